/**
 * How domain code asks for delivery attempts to run, without knowing the queue behind it.
 * Dispatching is best effort: Postgres holds the truth and the sweeper re-dispatches whatever
 * did not make it, so callers log failures and move on.
 */
export interface DeliveryJob {
  deliveryId: string
  /** The attempt this job performs (1 for the first). */
  attempt: number
  /** Not before this time; past or absent means now. */
  runAt?: Date
  /** `relay` or the recipient domain: lets a worker pace an MX destination before claiming. */
  route?: string
  /** Bytes of the message (not its content): lets a worker budget memory before claiming. */
  size?: number
  /** The email's account and From domain (holds.ts `senderKey`): a sender held at an MX destination waits before claiming. */
  sender?: string
  /** The email's stream: the job waits in that stream's lane. Absent means transactional. */
  stream?: string
}

export interface Dispatcher {
  dispatch(jobs: DeliveryJob[]): Promise<void>
  /**
   * Dispatches those of `jobs` whose job is not in its lane already: the sweeper's re-dispatch.
   * A deep backlog's waiting jobs are all "due" to the database, and re-adding each (a no-op,
   * but a script call apiece) would hold Redis for the length of the backlog at every sweep.
   * Returns how many were missing and dispatched.
   */
  redispatch(jobs: DeliveryJob[]): Promise<number>
  /** Deliveries waiting to start, for admission control. */
  backlog(): Promise<number>
  /**
   * Takes back jobs that have nothing left to do (their recipients were cancelled or held), so a
   * lane does not work through them. Best effort: a job left behind only finds nothing to claim.
   */
  withdraw?(jobs: Array<Pick<DeliveryJob, 'deliveryId' | 'attempt' | 'stream'>>): Promise<void>
}
