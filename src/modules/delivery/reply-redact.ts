// A token (between spaces or angle brackets) with an @ in it, or a quoted local part with one
// after it: an address, however written.
const ADDRESS = /"[^"<>]{0,200}"@[^\s<>]*|[^\s<>]*@[^\s<>]*/g
// A host name: labels of letters (any script), digits and hyphens, the last one alphabetic (so IPs stay).
const HOST = /(?<![\p{L}\p{N}-])(?:[\p{L}\p{N}](?:[\p{L}\p{N}-]{0,61}[\p{L}\p{N}])?\.)+[\p{L}]{2,63}(?![\p{L}\p{N}-])/gu

/**
 * A destination's reply as every account may see it. A provider's throttling reply is about our
 * sending IP, but it came in answer to one account's message and may name that account's
 * recipients or sending domains: addresses go, and so does every host name that is not the
 * provider's own (`keep`: its domains, MX suffixes and the hosts of its help pages).
 */
export function redactReply(text: string, keep: readonly string[]): string {
  const own = keep.map((k) => k.toLowerCase())
  const isOwn = (host: string) => own.some((k) => host === k || host.endsWith(`.${k}`))
  return text.replace(ADDRESS, '<address>').replace(HOST, (host) => (isOwn(host.toLowerCase()) ? host : '<domain>'))
}
