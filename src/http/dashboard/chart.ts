/** A line chart as inline SVG, drawn on the server: no script, no library, readable without colour. */
export interface ChartLine {
  label: string
  color: string
  values: number[]
}

const W = 640
const H = 200
const PAD = { left: 44, right: 8, top: 10, bottom: 24 }

const escapeXml = (s: string): string =>
  s.replace(/[&<>"']/g, (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' })[c] as string)

/** Round axis maximum: 1, 2 or 5 times a power of ten, at least the largest value. */
export function niceMax(max: number): number {
  if (max <= 0) return 1
  const power = 10 ** Math.floor(Math.log10(max))
  return ([1, 2, 5, 10].map((m) => m * power).find((v) => v >= max) ?? 10 * power) as number
}

export function lineChart(title: string, labels: string[], lines: ChartLine[]): string {
  const n = Math.max(labels.length, 1)
  const top = niceMax(Math.max(0, ...lines.flatMap((l) => l.values)))
  const x = (i: number) => PAD.left + (n === 1 ? (W - PAD.left - PAD.right) / 2 : (i * (W - PAD.left - PAD.right)) / (n - 1))
  const y = (v: number) => PAD.top + (H - PAD.top - PAD.bottom) * (1 - v / top)
  const grid = [0, 0.5, 1]
    .map((f) => {
      const v = Math.round(top * f)
      return `<line x1="${PAD.left}" x2="${W - PAD.right}" y1="${y(v)}" y2="${y(v)}" stroke="#d0d7de"/><text x="${PAD.left - 6}" y="${y(v) + 4}" text-anchor="end" font-size="11" fill="#57606a">${v}</text>`
    })
    .join('')
  const ticks = [0, Math.floor((n - 1) / 2), n - 1]
    .filter((i, k, all) => all.indexOf(i) === k && labels[i] !== undefined)
    .map(
      (i) => `<text x="${x(i)}" y="${H - 6}" text-anchor="middle" font-size="11" fill="#57606a">${escapeXml(labels[i] as string)}</text>`,
    )
    .join('')
  const paths = lines
    .map((l, k) => {
      const d = l.values.map((v, i) => `${i === 0 ? 'M' : 'L'}${x(i).toFixed(1)},${y(v).toFixed(1)}`).join(' ')
      // Each line has its own dash pattern too, so the chart does not rely on colour alone.
      const dash = ['', '6 3', '2 3', '8 3 2 3'][k % 4]
      return `<path d="${d}" fill="none" stroke="${l.color}" stroke-width="2"${dash ? ` stroke-dasharray="${dash}"` : ''}><title>${escapeXml(l.label)}</title></path>`
    })
    .join('')
  const summary = lines.map((l) => `${l.label} ${l.values.reduce((a, b) => a + b, 0)}`).join(', ')
  return `<svg class="chart" viewBox="0 0 ${W} ${H}" role="img" aria-label="${escapeXml(`${title}: ${summary}`)}" xmlns="http://www.w3.org/2000/svg">${grid}${ticks}${paths}</svg>`
}
