/**
 * A delivery is one (email, route) pair: `relay` for the upstream relay, or a recipient domain
 * for direct MX delivery (see shaping.ts for which one a domain takes). All of a delivery's
 * recipients go in one SMTP transaction.
 */
export const RELAY_ROUTE = 'relay'
