/**
 * Admission control shared by HTTP and SMTP ingress: past the configured backlog depth, a growing
 * share of new sends is refused (all of them at twice the depth), and the suggested wait is
 * spread over 1-3 s so that clients refused together do not come back together.
 */
export const refusedShare = (backlog: number, maxBacklog: number): number => Math.min(1, Math.max(0, (backlog - maxBacklog) / maxBacklog))

/** Seconds to wait before retrying, or undefined when this send is admitted. */
export function admissionDelay(backlog: number, maxBacklog: number, random: () => number = Math.random): number | undefined {
  if (backlog <= maxBacklog || random() >= refusedShare(backlog, maxBacklog)) return undefined
  return 1 + Math.floor(random() * 3)
}
