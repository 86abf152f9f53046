/** Retries with jittered exponential backoff that honours `Retry-After`: 429, 5xx and network errors only. */

export const RETRYABLE_STATUS = new Set([408, 429, 500, 502, 503, 504]);

export interface RetryPolicy {
  attempts: number;
  baseMs: number;
  maxMs: number;
  sleep: (ms: number) => Promise<void>;
  random: () => number;
  onRetry?: (what: string, attempt: number, delayMs: number, reason: string) => void;
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
  constructor(message: string, retryAfter?: number) {
    super(message);
    this.name = 'RetryableError';
    this.retryAfterMs = retryAfter;
  }
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
      const delay = Math.max(backoff, error.retryAfterMs ?? 0);
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
      const after = retryAfterMs(response.headers.get('retry-after'));
      await response.body?.cancel();
      throw new RetryableError(`HTTP ${response.status}`, after);
    }
    return response;
  });
}
