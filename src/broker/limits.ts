/**
 * Availability limits (docs/threat-model.md, "Availability"): what keeps one outsider or one
 * credential from taking what every other deploy needs — store entries, exchange rate, in-flight
 * gateway calls and buffered body bytes.
 */
import { BrokerError } from './errors.js';
import type { PolicyClaims } from './oidc/claims.js';
import type { CompiledConfig } from './config-types.js';
import { foldCase } from './fold-case.js';
import { MemoryReplayStore, type ReplayStore } from './replay.js';

const RATE_WINDOW_MS = 60_000;

/**
 * True when some rule names this repository (its id, its owner's id, or, for a rule without ids,
 * its name): only then can a token ever be allowed, so only then is its `jti` worth remembering.
 * Anyone on the internet can mint genuine tokens for the broker's audience; tokens no rule could
 * allow must not take replay-store entries.
 */
export function couldEverAllow(config: CompiledConfig, claims: PolicyClaims): boolean {
  for (const project of config.projects.values()) {
    for (const rule of project.rules) {
      if (rule.repositoryId !== undefined && rule.repositoryId === claims.repository_id) return true;
      if (rule.repositoryOwnerId !== undefined && rule.repositoryOwnerId === claims.repository_owner_id)
        return true;
      if (
        rule.repositoryId === undefined &&
        rule.repositoryOwnerId === undefined &&
        rule.repository === foldCase(claims.repository)
      )
        return true;
    }
  }
  return false;
}

export const tooMany = (message: string, retryAfterSeconds: number) =>
  new BrokerError(429, 'rate_limited', message, { 'retry-after': String(Math.max(1, retryAfterSeconds)) });

/**
 * Exchanges per minute per `repository_owner_id`, in fixed one-minute windows taken with the
 * store's atomic `take`. Owners the policy names count in the shared store (every instance sees
 * one budget); outsiders count in a small local store of their own, so no number of outsider
 * owners can fill the shared store, and a full local store only refuses outsiders.
 */
export function createExchangeRateLimit(shared: ReplayStore, now: () => number) {
  const outsiders = new MemoryReplayStore({ maxEntries: 10_000, now });
  return async function limitExchange(config: CompiledConfig, owner: string, insider: boolean) {
    const window = Math.floor(now() / RATE_WINDOW_MS);
    const retryAfter = Math.ceil(((window + 1) * RATE_WINDOW_MS - now()) / 1000);
    const limit = config.limits.exchange_rate_per_owner;
    const store = insider ? shared : outsiders;
    let taken: number | undefined;
    try {
      taken = await store.take(`rate:exchange:${owner}:${window}`, 1, limit, RATE_WINDOW_MS * 2);
    } catch (error) {
      if (insider) throw error;
      taken = undefined;
    }
    if (taken === undefined) {
      throw tooMany(
        `repository owner ${owner} has made ${limit} exchanges this minute, the broker's limit; retry after ${retryAfter} s`,
        retryAfter,
      );
    }
  };
}

/**
 * Calls in flight per key (a job's budget owner: the credentials of one job share it), with a short fair queue: a client that opens a few more
 * connections than the cap (the official CLI uploads 50 at a time) waits its turn; past the queue,
 * or after waiting `waitMs`, it is answered 429 with Retry-After. Process-local on purpose: it
 * guards this instance's sockets and memory, and a crashed instance must not leave slots taken.
 */
export class InflightLimit {
  private readonly active = new Map<string, number>();
  private readonly waiting = new Map<string, (() => void)[]>();

  private readonly what: string;
  private readonly waitMs: number;

  constructor(what: string, waitMs = 5_000) {
    this.what = what;
    this.waitMs = waitMs;
  }

  /** Resolves with a release function, or throws 429. */
  async acquire(key: string, limit: number): Promise<() => void> {
    const count = this.active.get(key) ?? 0;
    if (count < limit) {
      this.active.set(key, count + 1);
      return this.releaser(key);
    }
    const queue = this.waiting.get(key) ?? [];
    if (queue.length >= limit) throw this.refusal(limit);
    this.waiting.set(key, queue);
    const admitted = await new Promise<boolean>((resolve) => {
      const wake = () => {
        clearTimeout(timer);
        resolve(true);
      };
      const timer = setTimeout(() => {
        const at = queue.indexOf(wake);
        if (at !== -1) queue.splice(at, 1);
        if (queue.length === 0 && this.waiting.get(key) === queue) this.waiting.delete(key);
        resolve(false);
      }, this.waitMs);
      queue.push(wake);
    });
    if (!admitted) throw this.refusal(limit);
    return this.releaser(key);
  }

  private releaser(key: string): () => void {
    let released = false;
    return () => {
      if (released) return;
      released = true;
      const queue = this.waiting.get(key);
      const next = queue?.shift();
      if (queue?.length === 0) this.waiting.delete(key);
      // The slot passes straight to the next waiter; the count only drops when no one waits.
      if (next) return next();
      const count = (this.active.get(key) ?? 1) - 1;
      if (count <= 0) this.active.delete(key);
      else this.active.set(key, count);
    };
  }

  private refusal(limit: number): BrokerError {
    return tooMany(
      `this job already has ${limit} ${this.what} in flight, its limit; retry when one finishes`,
      2,
    );
  }
}

/**
 * A budget of request-body bytes buffered in memory at once, across all clients: a create body
 * is parsed whole, so many slow or large ones must be refused quickly (503) instead of growing RSS.
 * One owner (a job's credentials) may hold at most `ownerShare` of it, so no single job can take
 * what every other deploy needs.
 */
export class ByteBudget {
  private used = 0;
  private readonly byOwner = new Map<string, number>();
  private readonly total: () => number;
  private readonly ownerShare: () => number;

  constructor(total: () => number, ownerShare: () => number = total) {
    this.total = total;
    this.ownerShare = ownerShare;
  }

  /** Takes `bytes` for `owner` or throws 503; the caller gives them back with `release`. */
  take(bytes: number, owner: string): void {
    const own = this.byOwner.get(owner) ?? 0;
    if (this.used + bytes > this.total()) {
      throw new BrokerError(
        503,
        'unavailable',
        'The broker is buffering as many request bodies as it may; retry shortly.',
        { 'retry-after': '2' },
      );
    }
    if (own + bytes > this.ownerShare()) {
      throw new BrokerError(
        503,
        'unavailable',
        "This job's requests are buffering their share of the broker's request-body memory; retry shortly.",
        { 'retry-after': '2' },
      );
    }
    this.used += bytes;
    this.byOwner.set(owner, own + bytes);
  }

  release(bytes: number, owner: string): void {
    this.used = Math.max(0, this.used - bytes);
    const own = (this.byOwner.get(owner) ?? 0) - bytes;
    if (own > 0) this.byOwner.set(owner, own);
    else this.byOwner.delete(owner);
  }
}
