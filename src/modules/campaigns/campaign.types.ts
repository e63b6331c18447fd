export type CampaignStatus = 'active' | 'paused' | 'cancelled'

export interface Campaign {
  id: string
  name: string
  status: CampaignStatus
  ratePerHour: number | null
  scheduledAt: Date | null
  pausedReason: string | null
  createdAt: Date
  updatedAt: Date
}

/** A campaign's recipients per status, and the feedback about them. */
export interface CampaignCounts {
  recipients: Record<string, number>
  complained: number
  unsubscribed: number
}

/** What a send into a campaign needs to know, read (and for a throttled one, its slots taken) at accept. */
export interface CampaignForSend {
  status: CampaignStatus
  /** Start times for the sends of a throttled or scheduled campaign, in order; empty when they may start at once. */
  slots: Date[]
}

/** The pending reason of recipients held by their paused campaign. */
export const CAMPAIGN_PAUSED = 'campaign_paused'
