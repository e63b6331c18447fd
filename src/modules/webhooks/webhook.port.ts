/** What one webhook POST came to; never thrown, always answered (see src/infra/webhook-http.ts). */
export interface WebhookResponse {
  ok: boolean
  status?: number
  durationMs: number
  /** The first bytes of the answer's body. */
  body?: string
  error?: { code: string; message: string }
}

/** Sends one webhook request (an HTTP adapter outside the module implements it). */
export interface WebhookPoster {
  post(url: string, headers: Record<string, string>, body: string, signal?: AbortSignal): Promise<WebhookResponse>
}
