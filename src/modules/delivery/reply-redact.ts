const ADDRESS = /[^\s<>()[\]"',;:]+@[^\s<>()[\]"',;:]+/g
// A host name: labels of letters, digits and hyphens, the last one alphabetic (so IPs stay).
const HOST = /\b(?:[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?\.)+[a-z]{2,63}\b/gi

/**
 * A destination's reply as every account may see it. A provider's throttling reply is about our
 * sending IP, but it came in answer to one account's message and may name that account's
 * recipients or sending domains: addresses go, and so does every host name that is not the
 * provider's own (`keep`: its domains and MX suffixes), which its removal links use.
 */
export function redactReply(text: string, keep: readonly string[]): string {
  const own = keep.map((k) => k.toLowerCase())
  const isOwn = (host: string) => own.some((k) => host === k || host.endsWith(`.${k}`))
  return text.replace(ADDRESS, '<address>').replace(HOST, (host) => (isOwn(host.toLowerCase()) ? host : '<domain>'))
}
