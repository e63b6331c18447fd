import assert from 'node:assert/strict'
import { describe, it } from 'node:test'
import {
  checkTemplate,
  parseCacheSize,
  renderTemplate,
  type TemplateSource,
  templateVariables,
} from '../../src/modules/templates/template.render.js'

const render = (source: Partial<TemplateSource>, variables: Record<string, unknown> = {}) =>
  renderTemplate({ subject: 'Hi', ...source }, variables)

const ok = (source: Partial<TemplateSource>, variables: Record<string, unknown> = {}) => {
  const r = render(source, variables)
  assert.ok(r.ok, `expected a rendering, got ${JSON.stringify(r)}`)
  return r
}

const details = (source: Partial<TemplateSource>, variables: Record<string, unknown> = {}) => {
  const r = render(source, variables)
  assert.ok(!r.ok, `expected details, got ${JSON.stringify(r)}`)
  return r.details
}

describe('template rendering', () => {
  it('escapes every output in the html, and `raw` opts out', () => {
    const r = ok({ html: '<p>{{ name }}</p>{{ name | raw }}' }, { name: '<script>&"\'' })
    assert.equal(r.html, '<p>&lt;script&gt;&amp;&#34;&#39;</p><script>&"\'')
  })

  it('does not escape the subject or the text', () => {
    const r = ok({ subject: 'For {{ name }}', text: 'Dear {{ name }},' }, { name: 'A & B <a@b.example>' })
    assert.equal(r.subject, 'For A & B <a@b.example>')
    assert.equal(r.text, 'Dear A & B <a@b.example>,')
    assert.equal(r.html, undefined, 'a part not given is not in the result')
    assert.ok(!('html' in r))
  })

  it('reads nested values and loops', () => {
    const r = ok(
      { html: '{{ user.first_name }}: {% for item in items %}{{ forloop.index }}.{{ item.name }} {% endfor %}' },
      { user: { first_name: 'Ann' }, items: [{ name: 'a<b' }, { name: 'c' }] },
    )
    assert.equal(r.html, 'Ann: 1.a&lt;b 2.c ')
  })

  it('leaves the variables given alone', () => {
    const variables = { n: 5 }
    assert.equal(ok({ text: '{% increment n %}{% increment n %}{% increment x %}' }, variables).text, '560')
    assert.deepEqual(variables, { n: 5 })
  })

  it('refuses a missing variable, naming every one it can and the parts using it', () => {
    const got = details({ subject: 'Hi {{ name }}', text: '{{ name }} {{ code }}', html: '<p>{{ name }}</p>' })
    assert.deepEqual(got, [
      { path: '/variables/name', message: '"name" is used by the template\'s subject, text and html but was not given' },
      { path: '/variables/code', message: '"code" is used by the template\'s text but was not given' },
    ])
  })

  it('refuses a missing nested variable, as a JSON pointer', () => {
    assert.deepEqual(details({ text: '{{ user.first_name }} {{ user.last_name }}' }, { user: {} }), [
      { path: '/variables/user/first_name', message: '"user.first_name" is used by the template\'s text but was not given' },
      { path: '/variables/user/last_name', message: '"user.last_name" is used by the template\'s text but was not given' },
    ])
    assert.deepEqual(
      details({ text: '{{ user.first_name }}' }).map((d) => d.path),
      ['/variables/user'],
    )
    assert.deepEqual(
      details({ text: '{{ ["a/b"]["c~d"] }}' }, { 'a/b': {} }).map((d) => d.path),
      ['/variables/a~1b/c~0d'],
    )
    assert.deepEqual(
      details({ text: '{{ items[2].name }}' }, { items: [{ name: 'x' }] }).map((d) => d.path),
      ['/variables/items/2'],
    )
  })

  it('lets `if` and `default` make a variable optional', () => {
    assert.equal(ok({ text: '{% if coupon %}Code {{ coupon }}{% else %}none{% endif %}' }).text, 'none')
    assert.equal(ok({ text: '{% unless coupon %}none{% endunless %}' }).text, 'none')
    assert.equal(ok({ text: 'Hi {{ nick | default: "you" }}' }).text, 'Hi you')
    assert.equal(ok({ text: 'Hi {{ nick | default: "you" }}' }, { nick: null }).text, 'Hi you')
    assert.deepEqual(
      details({ text: '{{ nick | upcase | default: "you" }}' }).map((d) => d.path),
      ['/variables/nick'],
      'only when default is the first filter',
    )
    assert.equal(ok({ text: '[{{ nick }}]' }, { nick: null }).text, '[]', 'null is given, and renders as nothing')
  })

  it('refuses an undefined filter', () => {
    const [d, ...rest] = details({ html: '<p>\n{{ name | shout }}</p>' }, { name: 'x' })
    assert.equal(rest.length, 0)
    assert.equal(d?.path, '/html')
    assert.match(d?.message ?? '', /^The html is not a valid template at line 2, column 1: undefined filter: shout$/)
  })

  it('gives syntax errors per part with their line and column, and no stack', () => {
    const got = checkTemplate({ subject: '{{ a', text: 'ok', html: '<p>\n  {% if %}</p>' })
    assert.deepEqual(
      got.map((d) => d.path),
      ['/subject', '/html'],
    )
    assert.match(got[0]?.message ?? '', /^The subject is not a valid template at line 1, column 1: .*not closed/)
    assert.match(got[1]?.message ?? '', /^The html is not a valid template at line 2, column \d+: /)
    for (const d of got) assert.doesNotMatch(d.message, /\n|\s{2}| at .*\.js|line:\d/)
    assert.deepEqual(render({ html: '{% for x in y %}' }, { y: [] }), {
      ok: false,
      details: checkTemplate({ subject: 'Hi', html: '{% for x in y %}' }),
    })
  })

  it('needs a subject and a body', () => {
    assert.deepEqual(checkTemplate({ subject: ' ', text: null, html: '' }), [
      { path: '/subject', message: 'A template needs a subject' },
      { path: '/text', message: 'A template needs a text or an html body' },
    ])
    assert.deepEqual(checkTemplate({ subject: 'Hi', html: '<p>x</p>' }), [])
  })

  it('reads no files: include, render and layout are refused', () => {
    for (const tag of ['include', 'render', 'layout']) {
      const got = checkTemplate({ subject: 'Hi', text: `a\n{% ${tag} '/etc/passwd' %}` })
      assert.equal(got.length, 1)
      assert.equal(got[0]?.path, '/text')
      assert.match(got[0]?.message ?? '', new RegExp(`line 2, column 1: \\{% ${tag} %\\} is not allowed`))
      const r = render({ text: `{% ${tag} '/etc/passwd' %}`, html: `{% ${tag} file %}` }, { file: '/etc/passwd' })
      assert.ok(!r.ok)
      assert.doesNotMatch(JSON.stringify(r), /root:/)
    }
  })

  it('does not reach prototypes', () => {
    for (const expr of ['constructor', 'x.__proto__', 'x.constructor.name', 'x["constructor"]', 'toString', 'x.hasOwnProperty']) {
      const r = render({ text: `[{{ ${expr} }}]` }, { x: {} })
      assert.ok(!r.ok, `${expr} rendered ${JSON.stringify(r)}`)
      assert.match(r.details[0]?.path ?? '', /^\/variables\//)
      assert.doesNotMatch(JSON.stringify(r), /function|\[object/)
    }
    assert.equal(ok({ text: '{% if x.constructor %}yes{% else %}no{% endif %}' }, { x: {} }).text, 'no')
    // An own `__proto__` key (as JSON.parse makes) is data, and a placeholder for it must not set a prototype.
    const x = JSON.parse('{"__proto__": {"polluted": 1}}') as Record<string, unknown>
    assert.equal(ok({ text: '{{ x.__proto__.polluted }}' }, { x }).text, '1')
    details({ text: '{{ x.__proto__.other }} {{ y.__proto__.z }}' }, { x, y: {} })
    assert.equal(({} as Record<string, unknown>).polluted, undefined)
    assert.equal(({} as Record<string, unknown>).z, undefined)
  })

  it('stops a render that takes too long, quickly', () => {
    const started = performance.now()
    const got = details({
      html: '<p>{% for a in (1..100000) %}{% for b in (1..100000) %}x{% endfor %}{% endfor %}</p>',
    })
    const took = performance.now() - started
    assert.equal(got.length, 1)
    assert.equal(got[0]?.path, '/html')
    assert.match(got[0]?.message ?? '', /^The html took too long to render \(over 500 ms\) at line 1, column \d+$/)
    assert.ok(took < 1_500, `took ${Math.round(took)} ms`)
  })

  it('stops a render that uses too much memory', () => {
    const doubling = '{% assign s = "x" %}{% for a in (1..100) %}{% assign s = s | append: s %}{% endfor %}{{ s | size }}'
    assert.match(details({ text: doubling })[0]?.message ?? '', /^The text used too much memory to render/)
    const big = 'x'.repeat(100_000)
    const got = details({ text: '{% for a in (1..100000) %}{{ big }}{% endfor %}' }, { big })
    assert.equal(got[0]?.path, '/text')
    assert.match(got[0]?.message ?? '', /too much memory|more than \d+ characters/)
    // liquidjs does not count what it writes out (the html's escape filter does): 200 × 100,000 characters pass its memory limit.
    assert.deepEqual(details({ text: '{% for a in (1..200) %}{{ big }}{% endfor %}' }, { big }), [
      { path: '/text', message: 'The text renders to more than 10000000 characters' },
    ])
  })

  it('refuses a template too long to parse', () => {
    const got = checkTemplate({ subject: 'Hi', html: 'x'.repeat(1_000_001) })
    assert.deepEqual(got, [{ path: '/html', message: 'The html is too long: more than 1000000 characters' }])
  })

  it('keeps the parse cache bounded', () => {
    for (let i = 0; i < 1_200; i++) ok({ subject: `Hi ${i}`, text: `{{ n }} ${i}`, html: `<p>{{ n }} ${i}</p>` }, { n: i })
    assert.ok(parseCacheSize() <= 500, `${parseCacheSize()} entries`)
    // The same template for many recipients: parsed once, still right for each.
    const source = { subject: 'Hi {{ name }}', html: '<p>{{ name }}</p>' }
    for (const name of ['a', 'b<'])
      assert.deepEqual(renderTemplate(source, { name }), { ok: true, subject: `Hi ${name}`, html: `<p>${name.replace('<', '&lt;')}</p>` })
  })

  it('lists the variables a template uses', () => {
    const source = {
      subject: 'Hi {{ user.first_name }}',
      text: '{% for item in items %}{{ item.name }}{% endfor %}{% assign z = 1 %}{{ z }}{% if coupon %}{% endif %}',
      html: '{{ a[b] | append: c }} {{ forloop_not.x }} {% capture cap %}x{% endcapture %}{{ cap }}',
    }
    assert.deepEqual(templateVariables(source), ['a', 'b', 'c', 'coupon', 'forloop_not', 'items', 'user'])
    assert.deepEqual(templateVariables({ subject: '{{ a', text: '{{ b }}' }), ['b'], 'a part that does not parse names nothing')
  })
})
