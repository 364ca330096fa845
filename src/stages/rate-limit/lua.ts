import { createHash } from 'node:crypto';
import type { RedisClient } from '../../core/redis.js';

/** A Lua script with its SHA-1, computed once. */
export interface Script {
  readonly source: string;
  readonly sha: string;
}

/** Prepares a script for {@link evalScript}. */
export function script(source: string): Script {
  return { source, sha: createHash('sha1').update(source).digest('hex') };
}

/**
 * Runs `script` atomically on one key: `EVALSHA` first (the script body is
 * not sent again), `EVAL` when Redis answers `NOSCRIPT` (after a restart or
 * `SCRIPT FLUSH`), which also caches it for the next call.
 *
 * @example
 * ```ts
 * import { evalScript, script } from './lua.js';
 * const get = script("return redis.call('GET', KEYS[1])");
 * await evalScript(client, get, 'lb:k', []);
 * ```
 */
export async function evalScript(
  client: RedisClient,
  lua: Script,
  key: string,
  args: readonly (string | number)[],
): Promise<unknown> {
  try {
    return await client.evalsha(lua.sha, 1, key, ...args);
  } catch (error) {
    if (error instanceof Error && error.message.startsWith('NOSCRIPT')) {
      return client.eval(lua.source, 1, key, ...args);
    }
    throw error;
  }
}

/**
 * Shared prologue: the clock. An explicit time (ARGV[n]) wins (tests and
 * callers that own the clock); otherwise Redis's own `TIME`, so that every
 * balancer instance reads one clock and host clock skew cannot widen a
 * window. Redis 5+ replicates script effects, so writing after `TIME` is safe.
 */
const NOW = (argIndex: number) => `
local now = tonumber(ARGV[${argIndex}])
if not now then
  local t = redis.call('TIME')
  now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
end`;

/**
 * Sliding window (weighted two-window estimate). KEYS[1] a hash
 * { w: window index, c: count in window w, p: count in window w-1, b: blocked until }.
 * ARGV: points, windowMs, cost, blockMs, now?
 * Returns { allowed, prev, cur, elapsed, blockedMs }. Integer arithmetic only:
 * `prev * (window - elapsed) + cur * window` is the estimate scaled by the
 * window, so boundaries are exact and match the in-memory twin.
 */
export const SLIDING_WINDOW = script(`
local points = tonumber(ARGV[1])
local window = tonumber(ARGV[2])
local cost = tonumber(ARGV[3])
local blockMs = tonumber(ARGV[4])
${NOW(5)}
local idx = math.floor(now / window)
local s = redis.call('HMGET', KEYS[1], 'w', 'c', 'p', 'b')
local w = tonumber(s[1])
local cur = tonumber(s[2]) or 0
local prev = tonumber(s[3]) or 0
local blocked = tonumber(s[4]) or 0
if w == nil then
  cur = 0
  prev = 0
elseif w > idx then
  idx = w
elseif w == idx - 1 then
  prev = cur
  cur = 0
elseif w < idx - 1 then
  prev = 0
  cur = 0
end
local elapsed = now - idx * window
if elapsed < 0 then elapsed = 0 end
local allowed = 0
if blocked > now then
  allowed = 0
elseif prev * (window - elapsed) + (cur + cost) * window <= points * window then
  cur = cur + cost
  allowed = 1
elseif blockMs > 0 then
  blocked = now + blockMs
end
redis.call('HSET', KEYS[1], 'w', string.format('%d', idx), 'c', string.format('%d', cur),
  'p', string.format('%d', prev), 'b', string.format('%d', blocked))
local ttl = (idx + 2) * window - now
if blocked - now > ttl then ttl = blocked - now end
if ttl < 1 then ttl = 1 end
redis.call('PEXPIRE', KEYS[1], string.format('%d', ttl))
local blockedMs = blocked - now
if blockedMs < 0 then blockedMs = 0 end
return { allowed, prev, cur, elapsed, blockedMs }
`);

/** Gives back `ARGV[1]` points to the current window of a sliding-window key. */
export const SLIDING_WINDOW_REFUND = script(`
local c = tonumber(redis.call('HGET', KEYS[1], 'c'))
local cost = tonumber(ARGV[1])
if c and c >= cost then redis.call('HINCRBY', KEYS[1], 'c', -cost) end
return 0
`);

/**
 * Token bucket, continuous refill. KEYS[1] a hash
 * { t: tokens × durationMs, ts: last refill (ms), b: blocked until }.
 * Tokens are kept scaled by the duration so refill (`elapsed × points`) is an
 * integer: no float drift, exact parity with the in-memory twin.
 * ARGV: points, durationMs, burst, cost, blockMs, now?
 * Returns { allowed, scaledTokens, blockedMs }.
 */
export const TOKEN_BUCKET = script(`
local points = tonumber(ARGV[1])
local duration = tonumber(ARGV[2])
local burst = tonumber(ARGV[3])
local cost = tonumber(ARGV[4]) * duration
local blockMs = tonumber(ARGV[5])
${NOW(6)}
local cap = burst * duration
local s = redis.call('HMGET', KEYS[1], 't', 'ts', 'b')
local tokens = tonumber(s[1])
local ts = tonumber(s[2])
local blocked = tonumber(s[3]) or 0
if tokens == nil or ts == nil then
  tokens = cap
  ts = now
end
if now > ts then
  local elapsed = now - ts
  local full = math.ceil((cap - tokens) / points)
  if elapsed > full then elapsed = full end
  tokens = tokens + elapsed * points
  if tokens > cap then tokens = cap end
  ts = now
end
local allowed = 0
if blocked > now then
  allowed = 0
elseif tokens >= cost then
  tokens = tokens - cost
  allowed = 1
elseif blockMs > 0 then
  blocked = now + blockMs
end
local ttl = math.ceil((cap - tokens) / points)
if blocked - now > ttl then ttl = blocked - now end
if ttl < 1 then ttl = 1 end
redis.call('HSET', KEYS[1], 't', string.format('%d', tokens), 'ts', string.format('%d', ts),
  'b', string.format('%d', blocked))
redis.call('PEXPIRE', KEYS[1], string.format('%d', ttl))
local blockedMs = blocked - now
if blockedMs < 0 then blockedMs = 0 end
return { allowed, string.format('%d', tokens), blockedMs }
`);

/** Puts `ARGV[1]` scaled tokens back, up to the capacity `ARGV[2]`. */
export const TOKEN_BUCKET_REFUND = script(`
local t = tonumber(redis.call('HGET', KEYS[1], 't'))
if t then
  t = t + tonumber(ARGV[1])
  if t > tonumber(ARGV[2]) then t = tonumber(ARGV[2]) end
  redis.call('HSET', KEYS[1], 't', string.format('%d', t))
end
return 0
`);
