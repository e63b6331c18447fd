import type { Dns } from '../../infra/dns.js'

/** One address mail leaves from, as the world sees it. */
export interface AddressCheck {
  address: string
  /** Its PTR names. */
  ptr: string[]
  /**
   * `ok`: a PTR name resolves back to the address and is HELO_NAME; `not_helo`: forward-confirmed
   * but another name than HELO_NAME; `unconfirmed`: no PTR name resolves back to it; `missing`: no
   * PTR record; `unknown`: a lookup got no answer.
   */
  status: 'ok' | 'not_helo' | 'unconfirmed' | 'missing' | 'unknown'
}

export interface SendingHostCheck {
  helo_name: string
  /** HELO_NAME's own A and AAAA addresses. */
  helo_addresses: string[]
  /** MX_SOURCE_ADDRESS when set, else HELO_NAME's addresses. */
  addresses: AddressCheck[]
  status: 'ok' | 'warning'
  advice: string[]
}

/**
 * Forward-confirmed reverse DNS of the sending host: Gmail and Microsoft refuse or defer mail from
 * an address without a PTR record whose name resolves back to it (Gmail 4.7.23/5.7.25), and
 * receivers compare the name with the HELO. A self-check, never a gate: its advice says what to
 * publish.
 */
export async function checkSendingHost(
  dns: Pick<Dns, 'addresses' | 'reverse'>,
  heloName: string,
  sourceAddress: string | undefined,
): Promise<SendingHostCheck> {
  const helo = heloName.toLowerCase().replace(/\.$/, '')
  const advice: string[] = []
  const heloAddresses = await dns.addresses(helo).catch(() => undefined)
  if (!heloAddresses) advice.push(`No answer looking up ${helo}: try again later`)
  else if (heloAddresses.length === 0) advice.push(`Publish an A (or AAAA) record for HELO_NAME ${helo} with the sending address`)
  const sources = sourceAddress ? [sourceAddress] : (heloAddresses ?? [])
  const addresses: AddressCheck[] = []
  // A host has a handful of addresses; a misconfigured name with many is not looked up past these.
  for (const address of sources.slice(0, 8)) addresses.push(await checkAddress(dns, helo, address, advice))
  const status = heloAddresses?.length && addresses.length > 0 && addresses.every((a) => a.status === 'ok') ? 'ok' : 'warning'
  return { helo_name: helo, helo_addresses: heloAddresses ?? [], addresses, status, advice }
}

async function checkAddress(
  dns: Pick<Dns, 'addresses' | 'reverse'>,
  helo: string,
  address: string,
  advice: string[],
): Promise<AddressCheck> {
  const ptr = await dns.reverse(address).catch(() => undefined)
  if (!ptr) {
    advice.push(`No answer looking up the PTR record of ${address}: try again later`)
    return { address, ptr: [], status: 'unknown' }
  }
  const names = ptr.map((n) => n.toLowerCase().replace(/\.$/, '')).slice(0, 8)
  if (names.length === 0) {
    advice.push(`Ask the owner of ${address} (your provider) for a PTR record naming ${helo}`)
    return { address, ptr: names, status: 'missing' }
  }
  const confirmed: string[] = []
  for (const name of names) {
    const back: string[] = await dns.addresses(name).catch(() => [])
    if (back.includes(address)) confirmed.push(name)
  }
  if (confirmed.length === 0) {
    advice.push(`The PTR name of ${address} (${names.join(', ')}) does not resolve back to it: publish its A/AAAA record`)
    return { address, ptr: names, status: 'unconfirmed' }
  }
  if (!confirmed.includes(helo)) {
    advice.push(
      `The PTR name of ${address} is ${confirmed.join(', ')}, not HELO_NAME ${helo}: set HELO_NAME to it, or change the PTR record`,
    )
    return { address, ptr: names, status: 'not_helo' }
  }
  return { address, ptr: names, status: 'ok' }
}
