/**
 * Text from outside (a remote server's reply, a decoded header) made storable: PostgreSQL text
 * and jsonb refuse NUL, and unpaired UTF-16 surrogates are not valid Unicode. Both are dropped or
 * replaced rather than let one odd byte fail the write it travels in. Long text is cut at `max`
 * characters.
 */
export function storableText(text: string, max = 4_000): string {
  const clean = text.replaceAll('\u0000', '')
  // Cut first, then mend: a cut inside a surrogate pair leaves half of it, which jsonb refuses.
  return clean.length > max ? `${clean.slice(0, max).toWellFormed()}…` : clean.toWellFormed()
}
