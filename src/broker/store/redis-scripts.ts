/**
 * The store's Lua scripts on Redis: `take` and the exchange's one step. Redis runs a script
 * atomically, so no other command (from any broker instance) lands between its reads and writes.
 * node-redis sends each as EVALSHA with its digest and falls back to EVAL when the server answers
 * NOSCRIPT (a restart, a failover to a replica that never saw it).
 */
import { defineScript } from '@redis/client';
import type { ExchangeOutcome, ExchangeStep } from './store.js';

/** `take`: reads and writes KEYS[1] only, so on a Redis Cluster it stays within one hash slot. */
export const TAKE_SCRIPT = `local next = (tonumber(redis.call('GET', KEYS[1])) or 0) + tonumber(ARGV[1])
if next > tonumber(ARGV[2]) then return false end
if redis.call('EXISTS', KEYS[1]) == 1 then redis.call('SET', KEYS[1], next, 'KEEPTTL')
else redis.call('SET', KEYS[1], next, 'PX', ARGV[3]) end
return next`;

export const take = defineScript({
  SCRIPT: TAKE_SCRIPT,
  NUMBER_OF_KEYS: 1,
  parseCommand(parser, key: string, amount: number, limit: number, ttlMs: number) {
    parser.pushKey(key);
    parser.push(String(amount), String(limit), String(ttlMs));
  },
  transformReply: (reply: unknown) => reply as string | number | null,
});

/**
 * The exchange's step (store.ts `ExchangeStep`): KEYS are the rate window, the token's `jti`, the
 * job's slots and the retry record; ARGV[1..2] the rate's limit and expiry, ARGV[3] the token's
 * expiry, ARGV[4..5] the slot's limit and expiry, ARGV[6..8] the record's mode, value and expiry,
 * each '' when that part is absent. A refusal returns before anything after it is taken, and what
 * came before it stays taken, as with the separate commands it replaces. The keys are in four hash
 * slots: a Redis Cluster composes the step from single-key commands instead (exchange-step.ts).
 */
export const EXCHANGE_SCRIPT = `local function take(key, limit, ttl)
  local next = (tonumber(redis.call('GET', key)) or 0) + 1
  if next > tonumber(limit) then return false end
  if redis.call('EXISTS', key) == 1 then redis.call('SET', key, next, 'KEEPTTL')
  else redis.call('SET', key, next, 'PX', ttl) end
  return true
end
if ARGV[1] ~= '' and not take(KEYS[1], ARGV[1], ARGV[2]) then return {'rate_limited'} end
if ARGV[3] ~= '' and not redis.call('SET', KEYS[2], '1', 'NX', 'PX', ARGV[3]) then return {'replayed'} end
if ARGV[4] == '' then return {'admitted'} end
if ARGV[6] == 'find' then
  local previous = redis.call('GET', KEYS[4])
  if previous then return {'retry', previous} end
end
if not take(KEYS[3], ARGV[4], ARGV[5]) then return {'job_limit'} end
if ARGV[6] ~= '' then redis.call('SET', KEYS[4], ARGV[7], 'PX', ARGV[8]) end
return {'admitted'}`;

/** Redis wants whole milliseconds of at least one. */
export const ttl = (ms: number) => Math.max(1, Math.ceil(ms));
const limitOf = (limit: number) => String(Math.min(limit, Number.MAX_SAFE_INTEGER));

/** A key no part ever writes, for the KEYS of the parts a step leaves out. */
const UNUSED = 'keyhole:unused';

export const exchange = defineScript({
  SCRIPT: EXCHANGE_SCRIPT,
  NUMBER_OF_KEYS: 4,
  parseCommand(parser, { rate, token, job }: ExchangeStep) {
    const record = job?.record;
    const key = (name: string | undefined) => (name === undefined ? UNUSED : `keyhole:${name}`);
    parser.pushKey(key(rate?.key));
    parser.pushKey(key(token?.key));
    parser.pushKey(key(job?.slot.key));
    parser.pushKey(key(record?.key));
    parser.push(
      rate ? limitOf(rate.limit) : '',
      rate ? String(ttl(rate.ttlMs)) : '',
      token ? String(ttl(token.ttlMs)) : '',
      job ? limitOf(job.slot.limit) : '',
      job ? String(ttl(job.slot.ttlMs)) : '',
      record?.mode ?? '',
      record?.value ?? '',
      record ? String(ttl(record.ttlMs)) : '',
    );
  },
  transformReply: (reply: unknown) => reply as string[],
});

/** The script's reply as the store's outcome; anything else is an error (fail closed). */
export function exchangeOutcome(reply: string[]): ExchangeOutcome {
  const [result, record] = reply;
  if (result === 'retry' && typeof record === 'string') return { result, record };
  if (result === 'admitted' || result === 'rate_limited' || result === 'replayed' || result === 'job_limit')
    return { result };
  throw new Error(`the replay store's exchange script answered ${JSON.stringify(reply)}`);
}
