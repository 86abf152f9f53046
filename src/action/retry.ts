/** Retries with jittered exponential backoff that honours `Retry-After`: 429, 5xx and network errors only. */

export const RETRYABLE_STATUS = new Set([408, 429, 500, 502, 503, 504]);

export interface RetryPolicy {
  attempts: number;
  baseMs: number;
  maxMs: number;
  sleep: (ms: number) => Promise<void>;
  random: () => number;
  onRetry?: (what: string, attempt: number, delayMs: number, reason: string) => void;
  /** Epoch ms (the start plus `timeout-minutes`): a wait that would end past it gives up instead. */
  deadline?: number;
  now?: () => number;
}

export const defaultRetryPolicy = (overrides: Partial<RetryPolicy> = {}): RetryPolicy => ({
  attempts: 8,
  baseMs: 500,
  maxMs: 30_000,
  sleep: (ms) => new Promise((resolve) => setTimeout(resolve, ms)),
  random: Math.random,
  ...overrides,
});

/** `Retry-After` in seconds or as an HTTP date, capped at 60 s. */
export function retryAfterMs(value: string | null | undefined, now = Date.now()): number | undefined {
  if (!value) return undefined;
  const seconds = Number(value);
  const ms = Number.isFinite(seconds) ? seconds * 1000 : Date.parse(value) - now;
  return Number.isFinite(ms) ? Math.min(Math.max(ms, 0), 60_000) : undefined;
}

export class RetryableError extends Error {
  readonly retryAfterMs: number | undefined;
  /** A rate limit's own wait (uncapped: Vercel may say an hour), checked against the deadline. */
  readonly limitWaitMs: number | undefined;
  constructor(message: string, retryAfter?: number, limitWaitMs?: number) {
    super(message);
    this.name = 'RetryableError';
    this.retryAfterMs = retryAfter;
    this.limitWaitMs = limitWaitMs;
  }
}

/**
 * A 429's headers in words, for the one line the user reads while the action waits: which limit
 * (Vercel's `X-RateLimit-*`, which the broker passes through unchanged, or the broker's own), and
 * how long its `Retry-After` or reset says to wait, uncapped.
 */
export function rateLimitOf(headers: Headers, now = Date.now()): { text: string; waitMs?: number } {
  const limit = headers.get('x-ratelimit-limit');
  const remaining = headers.get('x-ratelimit-remaining');
  const reset = Number(headers.get('x-ratelimit-reset'));
  const after = Number(headers.get('retry-after'));
  const resetAt = Number.isFinite(reset) && reset > 0 ? reset * 1000 : undefined;
  const waitMs =
    Number.isFinite(after) && after > 0 ? after * 1000 : resetAt !== undefined ? resetAt - now : undefined;
  if (!limit) return { text: 'HTTP 429: a rate limit', ...(waitMs !== undefined ? { waitMs } : {}) };
  const parts = [
    `${/^\d{1,9}$/.test(limit) ? limit : '?'} requests`,
    ...(remaining && /^\d{1,9}$/.test(remaining) ? [`${remaining} left`] : []),
    ...(resetAt !== undefined ? [`resets ${new Date(resetAt).toISOString().slice(11, 19)} UTC`] : []),
  ];
  return {
    text: `HTTP 429: Vercel's rate limit (${parts.join(', ')})`,
    ...(waitMs !== undefined ? { waitMs: Math.max(0, waitMs) } : {}),
  };
}

/** The error a retryable answer becomes: a 429 names its limit. */
export function retryableAnswer(what: string, status: number, headers: Headers): RetryableError {
  const after = retryAfterMs(headers.get('retry-after'));
  if (status !== 429) return new RetryableError(`${what}HTTP ${status}`, after);
  const limit = rateLimitOf(headers);
  return new RetryableError(`${what}${limit.text}`, after, limit.waitMs);
}

/** Runs `operation` until it succeeds or throws something other than a RetryableError. */
export async function withRetry<T>(
  what: string,
  policy: RetryPolicy,
  operation: (attempt: number) => Promise<T>,
): Promise<T> {
  for (let attempt = 1; ; attempt++) {
    try {
      return await operation(attempt);
    } catch (error) {
      if (!(error instanceof RetryableError) || attempt >= policy.attempts) throw error;
      // Full jitter keeps many runners from retrying in step; Retry-After is a floor.
      const backoff = Math.min(policy.maxMs, policy.baseMs * 2 ** (attempt - 1)) * policy.random();
      const delay = Math.max(backoff, error.retryAfterMs ?? 0, error.limitWaitMs ?? 0);
      const now = policy.now?.() ?? Date.now();
      if (policy.deadline !== undefined && now + delay > policy.deadline)
        throw new Error(
          `${what}: gave up after ${attempt} attempt(s): ${error.message}; waiting ${Math.ceil(delay / 1000)} s more would pass timeout-minutes`,
        );
      policy.onRetry?.(what, attempt, delay, error.message);
      await policy.sleep(delay);
    }
  }
}

/** `fetch` that turns retryable answers and network failures into RetryableError. The body must be replayable. */
export async function fetchRetrying(
  fetchImpl: typeof fetch,
  what: string,
  policy: RetryPolicy,
  url: string | URL,
  init: RequestInit,
): Promise<Response> {
  return withRetry(what, policy, async () => {
    let response: Response;
    try {
      response = await fetchImpl(url, init);
    } catch (error) {
      throw new RetryableError(
        `network error: ${error instanceof Error ? ((error.cause as Error | undefined)?.message ?? error.message) : String(error)}`,
      );
    }
    if (RETRYABLE_STATUS.has(response.status)) {
      await response.body?.cancel();
      throw retryableAnswer('', response.status, response.headers);
    }
    return response;
  });
}

/**
 * The pause between two polls of a job Vercel runs (a promotion, a rollback): `interval`, never past
 * `deadline`; returns the next interval (half as long again, at most 5 s).
 */
export async function pauseBeforePoll(
  now: () => number,
  deadline: number,
  interval: number,
): Promise<number> {
  await new Promise((resolve) => setTimeout(resolve, Math.min(interval, Math.max(0, deadline - now()))));
  return Math.min(interval * 1.5, 5000);
}
