import assert from 'node:assert/strict'
import { existsSync, readdirSync, readFileSync, statSync } from 'node:fs'
import { dirname, join, relative } from 'node:path'
import { describe, it } from 'node:test'
import { PACKAGE_ROOT } from '../../src/lib/paths.js'

/** The Markdown a reader follows from the README: every relative link must reach a file, and its #anchor a heading. */
const FILES = [
  'README.md',
  'CHANGELOG.md',
  ...readdirSync(join(PACKAGE_ROOT, 'docs'))
    .filter((f) => f.endsWith('.md'))
    .map((f) => `docs/${f}`),
]

/** Text outside fenced code blocks and inline code, where links and headings are read. */
const prose = (markdown: string): string[] => {
  let fenced = false
  return markdown.split('\n').map((line) => {
    if (/^\s*(```|~~~)/.test(line)) {
      fenced = !fenced
      return ''
    }
    return fenced ? '' : line
  })
}

/** GitHub's heading anchors: lower case, punctuation dropped, spaces to hyphens, repeats numbered. */
function anchorsOf(markdown: string): Set<string> {
  const anchors = new Set<string>()
  const seen = new Map<string, number>()
  for (const line of prose(markdown)) {
    for (const m of line.matchAll(/\b(?:id|name)="([^"]+)"/g)) anchors.add(m[1] as string)
    const heading = /^#{1,6}\s+(.+?)\s*#*\s*$/.exec(line)?.[1]
    if (!heading) continue
    const text = heading
      .replace(/!?\[([^\]]*)\]\([^)]*\)/g, '$1')
      .replace(/<[^>]+>/g, '')
      .replace(/[`*]/g, '')
    const slug = text
      .toLowerCase()
      .replace(/[^\p{L}\p{M}\p{N}\s_-]/gu, '')
      .replace(/\s/g, '-')
    const n = seen.get(slug) ?? 0
    seen.set(slug, n + 1)
    anchors.add(n === 0 ? slug : `${slug}-${n}`)
  }
  return anchors
}

function linksOf(markdown: string): string[] {
  const links: string[] = []
  for (const line of prose(markdown)) {
    const text = line.replace(/`[^`]*`/g, '')
    for (const m of text.matchAll(/\]\(([^)\s]+)(?:\s+"[^"]*")?\)/g)) links.push(m[1] as string)
  }
  return links.filter((link) => !/^[a-z][a-z0-9+.-]*:/i.test(link))
}

describe('documentation links', () => {
  it('every relative link reaches a file, and every #anchor a heading in it', () => {
    const broken: string[] = []
    for (const file of FILES) {
      const source = readFileSync(join(PACKAGE_ROOT, file), 'utf8')
      for (const link of linksOf(source)) {
        const [path = '', anchor] = link.split('#', 2)
        const target = path === '' ? join(PACKAGE_ROOT, file) : join(PACKAGE_ROOT, dirname(file), decodeURIComponent(path))
        if (!existsSync(target)) {
          broken.push(`${file}: ${link} (no such file)`)
          continue
        }
        if (anchor === undefined || anchor === '') continue
        if (!target.endsWith('.md') || statSync(target).isDirectory()) {
          broken.push(`${file}: ${link} (an anchor into a file that is not Markdown)`)
          continue
        }
        if (!anchorsOf(readFileSync(target, 'utf8')).has(anchor)) {
          broken.push(`${file}: ${link} (no heading #${anchor} in ${relative(PACKAGE_ROOT, target)})`)
        }
      }
    }
    assert.deepEqual(broken, [])
  })
})
