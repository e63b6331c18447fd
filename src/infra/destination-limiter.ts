import type { DestinationLimiter } from '../modules/delivery/limiter.port.js'
import type { Redis } from './redis.js'

/** Characters of a throttling reply kept for the destinations view. */
const REPLY_MAX = 300
// Each script reads Redis's own clock, so every worker process agrees on time.
const NOW = "local t = redis.call('TIME') local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)"

/**
 * KEYS: an account's aside set. ARGV: delivery, until. Scores are due times: what is counted as
 * waiting is what is due later than now, so an entry needs no removal when its delivery goes;
 * past ones are trimmed here, and the key lives an hour past its last due time. The set holds at
 * most ASIDE_MAX deliveries (the count then reads as that many), so that a backlog of millions held
 * for a warm-up day costs Redis a few MB, not hundreds.
 */
const ASIDE_MAX = 100_000
const ASIDE = `${NOW}
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', now - 60000)
if redis.call('ZCARD', KEYS[1]) >= ${ASIDE_MAX} and not redis.call('ZSCORE', KEYS[1], ARGV[1]) then return 0 end
redis.call('ZADD', KEYS[1], tonumber(ARGV[2]), ARGV[1])
local ttl = tonumber(ARGV[2]) - now + 3600000
if redis.call('PTTL', KEYS[1]) < ttl then redis.call('PEXPIRE', KEYS[1], ttl) end
return 1`

/**
 * KEYS: slots, state. ARGV: slot, max, leaseMs, share. Expired slots are dropped first. A bulk
 * lane's delivery asks with a share below 1: it may take slots only while fewer than that share
 * of the limit are taken, so the rest stays free for transactional mail (at least one slot,
 * whenever the limit is more than one).
 */
const ACQUIRE = `${NOW}
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', now)
local factor = tonumber(redis.call('HGET', KEYS[2], 'factor') or '1')
local limit = math.max(1, math.floor(tonumber(ARGV[2]) * factor))
local share = tonumber(ARGV[4] or '1')
if share < 1 and limit > 1 then limit = math.max(1, math.min(limit - 1, math.floor(limit * share))) end
if redis.call('ZCARD', KEYS[1]) >= limit then return 0 end
redis.call('ZADD', KEYS[1], now + tonumber(ARGV[3]), ARGV[1])
redis.call('PEXPIRE', KEYS[1], tonumber(ARGV[3]) * 2)
return 1`

/** Extends a slot; 0 when it had already expired (the holder must stop counting on it). */
const RENEW = `${NOW}
if not redis.call('ZSCORE', KEYS[1], ARGV[1]) then return 0 end
redis.call('ZADD', KEYS[1], now + tonumber(ARGV[2]), ARGV[1])
redis.call('PEXPIRE', KEYS[1], tonumber(ARGV[2]) * 2)
return 1`

/** GCRA: KEYS: rate. ARGV: interval ms, burst. Returns ms to wait (0 = counted). */
const RATE = `${NOW}
local interval = tonumber(ARGV[1])
local tolerance = interval * (tonumber(ARGV[2]) - 1)
local tat = math.max(tonumber(redis.call('GET', KEYS[1]) or '0'), now)
if tat - now > tolerance then return math.ceil(tat - now - tolerance) end
redis.call('SET', KEYS[1], tat + interval, 'PX', math.ceil(tat + interval - now + 1000))
return 0`

/**
 * KEYS: state. ARGV: pauseMs (the least this pause lasts), maxPauseMs, backoffCapMs. A pause in
 * force is not extended by its own stragglers; a reply that asks for a much longer one (a
 * reputation limit or a block arriving during a short pause) extends it, without halving
 * concurrency again. The backoff remembered for the next throttle (pauseMs) stays within the
 * profile's own maximum, so that a long block does not make every later short throttle long.
 */
const THROTTLED = `${NOW}
local floor = tonumber(ARGV[1])
if ARGV[5] ~= '' then redis.call('HSET', KEYS[1], 'reply', ARGV[5], 'replyAt', now) end
local paused = tonumber(redis.call('HGET', KEYS[1], 'pausedUntil') or '0')
local function keep(ms)
  if redis.call('PTTL', KEYS[1]) < ms then redis.call('PEXPIRE', KEYS[1], ms) end
end
if paused > now then
  if now + floor <= paused + 60000 then return paused end
  local longer = math.min(floor, tonumber(ARGV[2]))
  redis.call('HSET', KEYS[1], 'pausedUntil', now + longer)
  if ARGV[4] ~= '' then redis.call('HSET', KEYS[1], 'rule', ARGV[4], 'ruleAt', now) end
  keep(math.max(longer * 4, 3600000))
  return now + longer
end
local factor = math.max(1 / 64, tonumber(redis.call('HGET', KEYS[1], 'factor') or '1') / 2)
local last = tonumber(redis.call('HGET', KEYS[1], 'pauseMs') or '0')
local pause = math.min(math.max(last * 2, floor), tonumber(ARGV[2]))
redis.call('HSET', KEYS[1], 'factor', factor, 'pauseMs', math.min(pause, tonumber(ARGV[3])), 'pausedUntil', now + pause, 'successes', 0)
if ARGV[4] ~= '' then redis.call('HSET', KEYS[1], 'rule', ARGV[4], 'ruleAt', now) end
keep(math.max(pause * 4, 3600000))
return now + pause`

/**
 * KEYS: state. ARGV: successes per step. Concurrency comes back one doubling per N successes; the
 * pause length decays only once concurrency is whole again, so a destination that keeps
 * throttling after a few successes keeps getting longer pauses.
 */
const SUCCEEDED = `
local factor = tonumber(redis.call('HGET', KEYS[1], 'factor') or '1')
if factor >= 1 then return 0 end
local n = redis.call('HINCRBY', KEYS[1], 'successes', 1)
if n < tonumber(ARGV[1]) then return 0 end
factor = math.min(1, factor * 2)
redis.call('HSET', KEYS[1], 'factor', factor, 'successes', 0)
if factor >= 1 then redis.call('HSET', KEYS[1], 'pauseMs', math.floor(tonumber(redis.call('HGET', KEYS[1], 'pauseMs') or '0') / 2)) end
return 1`

const SUCCESSES_PER_STEP = 20

/**
 * KEYS: warm-up state (per destination and sending IP). ARGV: the schedule's daily caps. Takes
 * one message of today's cap ({1, next midnight}) or finds it spent ({0, next midnight}). The day
 * is Redis's UTC day, so that workers' clocks cannot disagree on it, and only moves forward. The
 * ramp moves one step on each new day that mail is sent, unless the last sending day saw a
 * throttle (\`frozen\`): days without mail do not count.
 */
const WARMUP = `
local t = redis.call('TIME')
local day = math.floor(tonumber(t[1]) / 86400)
local nextMidnight = (day + 1) * 86400000
local last = tonumber(redis.call('HGET', KEYS[1], 'day') or '-1')
local step = tonumber(redis.call('HGET', KEYS[1], 'step') or '0')
if day > last then
  if last >= 0 and redis.call('HGET', KEYS[1], 'frozen') ~= '1' then step = step + 1 end
  redis.call('HSET', KEYS[1], 'day', day, 'step', step, 'count', 0, 'frozen', 0)
end
local cap = tonumber(ARGV[math.min(step, #ARGV - 1) + 1])
local count = tonumber(redis.call('HGET', KEYS[1], 'count') or '0')
if count >= cap then return {0, nextMidnight} end
redis.call('HINCRBY', KEYS[1], 'count', 1)
redis.call('PEXPIRE', KEYS[1], 90 * 86400000)
return {1, nextMidnight}`

/** A hold that ended less than this long ago is still looked at (its mail is let through by one probe first). */
const HOLD_LINGER_MS = 10 * 60_000
/** How long the rest of a held sender's or domain's mail waits while one delivery probes an ended hold. */
const PROBE_MS = 60_000

/**
 * KEYS: state, recipient-domain holds, sender holds. ARGV: the recipient domain, the sender (''
 * when unknown). Returns: the pause end, the concurrency factor, until when the domain and the
 * sender are held (0: not), how many senders have holds (ended ones lingering included: it only
 * decides whether a job that names no sender is checked after its claim), and the probes this
 * delivery takes (1: the domain's hold, 2: the sender's) with their mark. A hold that ended lately
 * is probed: only when nothing else holds the delivery back here (a pause, the other hold), the
 * first delivery to look takes the probe (its hold is marked as lasting PROBE_MS more, so the
 * rest wait) and goes alone; the caller settles it (settleProbe): ended after its attempt,
 * restored if it never went.
 */
const STATE = `
local s = redis.call('HMGET', KEYS[1], 'pausedUntil', 'factor')
local factor = s[2] or '1'
local now
local function clock()
  if not now then
    local t = redis.call('TIME')
    now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
  end
  return now
end
local paused = tonumber(s[1] or '0')
if paused > 0 and paused > clock() then return {paused, factor, 0, 0, 0, 0, 0} end
local function score(key, member)
  if member == '' then return 0 end
  return tonumber(redis.call('ZSCORE', key, member) or '0')
end
local domain = score(KEYS[2], ARGV[1])
local sender = score(KEYS[3], ARGV[2])
local senders = redis.call('ZCARD', KEYS[3])
if domain == 0 and sender == 0 then return {0, factor, 0, senders, 0, 0, 0} end
clock()
if domain > now or sender > now then
  return {0, factor, domain > now and domain or 0, senders, sender > now and sender or 0, 0, 0}
end
local probes = 0
local mark = now + ${PROBE_MS}
local function probe(key, member, ends, bit)
  if ends > now - ${HOLD_LINGER_MS} then
    redis.call('ZADD', key, mark, member)
    if redis.call('PTTL', key) < ${PROBE_MS + HOLD_LINGER_MS} then redis.call('PEXPIRE', key, ${PROBE_MS + HOLD_LINGER_MS}) end
    probes = probes + bit
  end
end
if domain > 0 then probe(KEYS[2], ARGV[1], domain, 1) end
if sender > 0 then probe(KEYS[3], ARGV[2], sender, 2) end
return {0, factor, 0, senders, 0, probes, mark}`

/**
 * KEYS: holds. ARGV: who, the probe's mark, 'end' or 'restore'. Settles a probe, unless the hold
 * changed since it was taken (renewed by a refusal meanwhile): 'end' removes the hold (the probe
 * went, and was not refused for it), 'restore' marks it ended again so that the next delivery
 * to look probes it (this one never went).
 */
const SETTLE_PROBE = `
local current = redis.call('ZSCORE', KEYS[1], ARGV[1])
if not current or tonumber(current) ~= tonumber(ARGV[2]) then return 0 end
if ARGV[3] == 'end' then
  redis.call('ZREM', KEYS[1], ARGV[1])
else
  ${NOW}
  redis.call('ZADD', KEYS[1], now - 1, ARGV[1])
end
return 1`

/**
 * KEYS: holds. ARGV: who (a recipient domain or a sender), ms. Holds them for at least \`ms\` from
 * now (a longer hold in force stays); holds long over are dropped. Returns the hold's end.
 */
const HOLD = `${NOW}
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', now - ${HOLD_LINGER_MS})
redis.call('ZADD', KEYS[1], 'GT', now + tonumber(ARGV[2]), ARGV[1])
local keep = tonumber(ARGV[2]) + ${HOLD_LINGER_MS}
if redis.call('PTTL', KEYS[1]) < keep then redis.call('PEXPIRE', KEYS[1], keep) end
return tonumber(redis.call('ZSCORE', KEYS[1], ARGV[1]))`

/** KEYS: warm-up state. Gives back a message of today's cap that was taken but not sent. */
const WARMUP_GIVE_BACK = `
local count = tonumber(redis.call('HGET', KEYS[1], 'count') or '0')
if count > 0 then redis.call('HINCRBY', KEYS[1], 'count', -1) end
return 0`

export function createDestinationLimiter(redis: Redis, prefix: string): DestinationLimiter {
  const key = (destination: string, part: string) => `${prefix}:dest:{${destination}}:${part}`
  return {
    async state(destination, recipientDomain = '', sender = '') {
      const keys = [key(destination, 'state'), key(destination, 'holds:r'), key(destination, 'holds:s')]
      const [pausedUntil, factor, domainHeld, senders, senderHeld, probes, mark] = (await redis.eval(
        STATE,
        3,
        ...keys,
        recipientDomain,
        sender,
      )) as Array<string | number>
      return {
        pausedUntil: Number(pausedUntil),
        factor: Number(factor),
        domainHeldUntil: Number(domainHeld),
        sendersHeld: Number(senders),
        senderHeldUntil: Number(senderHeld),
        probes: { domain: (Number(probes) & 1) !== 0, sender: (Number(probes) & 2) !== 0, mark: Number(mark) },
      }
    },
    async settleProbe(destination, scope, who, mark, how) {
      const k = key(destination, scope === 'sender' ? 'holds:s' : 'holds:r')
      return (await redis.eval(SETTLE_PROBE, 1, k, who, mark, how)) === 1
    },
    async hold(destination, scope, who, ms) {
      return Number(await redis.eval(HOLD, 1, key(destination, scope === 'sender' ? 'holds:s' : 'holds:r'), who, Math.max(1, ms)))
    },
    async senderHeldUntil(destination, sender) {
      return Number((await redis.zscore(key(destination, 'holds:s'), sender)) ?? 0)
    },
    async describe(destination, sendersOf) {
      const k = (part: string) => key(destination, part)
      const now = Date.now()
      const [state, senders, domains, connections, waiting] = await Promise.all([
        redis.hmget(k('state'), 'pausedUntil', 'factor', 'rule', 'ruleAt', 'reply', 'replyAt'),
        scanHolds(redis, k('holds:s'), `${sendersOf}/*`, now),
        redis.zcount(k('holds:r'), `(${now}`, '+inf'),
        redis.zcount(k('slots'), `(${now}`, '+inf'),
        sendersOf ? redis.zcount(k(`aside:${sendersOf}`), `(${now}`, '+inf') : Promise.resolve(0),
      ])
      return {
        pausedUntil: Number(state[0] ?? 0),
        factor: Number(state[1] ?? 1),
        lastRule: state[2] ? { id: state[2], at: Number(state[3] ?? 0) } : undefined,
        senders,
        recipientDomainsHeld: domains,
        connections,
        waiting,
        lastReply: state[4] ? { text: state[4], at: Number(state[5] ?? 0) } : undefined,
      }
    },
    async acquireSlot(destination, slot, max, leaseMs, share = 1) {
      return (await redis.eval(ACQUIRE, 2, key(destination, 'slots'), key(destination, 'state'), slot, max, leaseMs, share)) === 1
    },
    async renewSlot(destination, slot, leaseMs) {
      return (await redis.eval(RENEW, 1, key(destination, 'slots'), slot, leaseMs)) === 1
    },
    async putAside(destination, accountId, deliveryId, until) {
      await redis.eval(ASIDE, 1, key(destination, `aside:${accountId}`), deliveryId, Math.round(until))
    },
    async releaseSlot(destination, slot) {
      await redis.zrem(key(destination, 'slots'), slot)
    },
    async reserveRate(destination, perSecond) {
      if (perSecond <= 0) return 0
      return Number(await redis.eval(RATE, 1, key(destination, 'rate'), 1000 / perSecond, Math.max(1, Math.ceil(perSecond))))
    },
    async throttled(destination, pauseMs, maxPauseMs, backoffCapMs = maxPauseMs, rule = '', reply = '') {
      // A remote's words, shown to operators and accounts: one line, bounded.
      const text = reply.replace(/[\r\n\t]+/g, ' ').slice(0, REPLY_MAX)
      return Number(await redis.eval(THROTTLED, 1, key(destination, 'state'), pauseMs, maxPauseMs, backoffCapMs, rule, text))
    },
    async warmupTake(destination, source, schedule) {
      const [taken, nextDay] = (await redis.eval(WARMUP, 1, key(destination, `warmup:${source}`), ...schedule)) as [number, number]
      return { taken: taken === 1, nextDay: Number(nextDay) }
    },
    async warmupGiveBack(destination, source) {
      await redis.eval(WARMUP_GIVE_BACK, 1, key(destination, `warmup:${source}`))
    },
    async warmupFreeze(destination, source) {
      const k = key(destination, `warmup:${source}`)
      // Only a warm-up under way is frozen (no key without an expiry is made).
      await redis
        .multi()
        .hsetnx(k, 'day', -1)
        .hset(k, 'frozen', 1)
        .pexpire(k, 90 * 86_400_000)
        .exec()
    },
    async connectFailed(destination) {
      const k = key(destination, 'connfail')
      const res = await redis.multi().incr(k).pexpire(k, 3_600_000).exec()
      return Number(res?.[0]?.[1] ?? 0)
    },
    async connected(destination) {
      await redis.del(key(destination, 'connfail'))
    },
    async succeeded(destination) {
      await redis.eval(SUCCEEDED, 1, key(destination, 'state'), SUCCESSES_PER_STEP)
    },
  }
}

/**
 * The holds of one account's senders (members \`<account>/<domain>\`) still running: filtered by
 * Redis as it scans, so that other accounts' holds, however many, neither show nor crowd these
 * out. Bounded: at most 100 scan calls.
 */
async function scanHolds(redis: Redis, key: string, match: string, now: number): Promise<Array<{ who: string; until: number }>> {
  // A scan may return a member twice (the set changing meanwhile): keyed by member.
  const out = new Map<string, number>()
  let cursor = '0'
  for (let calls = 0; calls < 100; calls++) {
    const [next, flat] = await redis.zscan(key, cursor, 'MATCH', match, 'COUNT', 500)
    for (let i = 0; i + 1 < flat.length; i += 2) {
      const until = Number(flat[i + 1])
      if (until > now) out.set(flat[i] as string, until)
    }
    cursor = next
    if (cursor === '0') break
  }
  return [...out].map(([who, until]) => ({ who, until }))
}
