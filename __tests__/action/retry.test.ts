import {
  fetchRetrying,
  retryAfterMs,
  RetryableError,
  withRetry,
  type RetryPolicy,
} from '../../src/action/retry.js';

function policy(sleeps: number[], random = 0.5): RetryPolicy {
  return {
    attempts: 4,
    baseMs: 100,
    maxMs: 1000,
    random: () => random,
    sleep: async (ms) => void sleeps.push(ms),
  };
}

test('Retry-After in seconds or as an HTTP date, capped at 60 s', () => {
  expect(retryAfterMs('3')).toBe(3000);
  expect(retryAfterMs('3600')).toBe(60_000);
  expect(retryAfterMs(new Date(Date.now() + 5000).toUTCString())).toBeGreaterThan(3000);
  expect(retryAfterMs('soon')).toBeUndefined();
  expect(retryAfterMs(null)).toBeUndefined();
});

test('jittered exponential backoff, with Retry-After as a floor', async () => {
  const sleeps: number[] = [];
  let calls = 0;
  const result = await withRetry('op', policy(sleeps), async () => {
    calls += 1;
    if (calls === 1) throw new RetryableError('429', 2000);
    if (calls < 4) throw new RetryableError('503');
    return 'done';
  });
  expect(result).toBe('done');
  expect(sleeps).toEqual([2000, 100, 200]);
});

test('gives up after the last attempt and never retries other errors', async () => {
  const sleeps: number[] = [];
  await expect(
    withRetry('op', policy(sleeps), async () => Promise.reject(new RetryableError('503'))),
  ).rejects.toThrow('503');
  expect(sleeps).toHaveLength(3);
  let calls = 0;
  await expect(
    withRetry('op', policy([]), async () => ((calls += 1), Promise.reject(new Error('403')))),
  ).rejects.toThrow('403');
  expect(calls).toBe(1);
});

test('fetchRetrying retries 429/5xx and network errors, and returns other answers as they are', async () => {
  const answers: (Response | Error)[] = [
    new TypeError('fetch failed'),
    new Response('', { status: 502 }),
    new Response('', { status: 429, headers: { 'retry-after': '1' } }),
    new Response('{"ok":1}', { status: 200 }),
  ];
  const sleeps: number[] = [];
  const fake = (async () => {
    const next = answers.shift()!;
    if (next instanceof Error) throw next;
    return next;
  }) as typeof fetch;
  const response = await fetchRetrying(fake, 'get', policy(sleeps), 'http://x', {});
  expect(response.status).toBe(200);
  expect(sleeps[2]).toBe(1000);
  const notRetried = await fetchRetrying(
    (async () => new Response('', { status: 403 })) as typeof fetch,
    'get',
    policy([]),
    'http://x',
    {},
  );
  expect(notRetried.status).toBe(403);
});

test("a 429 names Vercel's limit in the retry line, and waits as long as Vercel says", async () => {
  const sleeps: number[] = [];
  const lines: string[] = [];
  const reset = Math.ceil(Date.now() / 1000) + 90;
  const answers = [
    new Response('{}', {
      status: 429,
      headers: {
        'retry-after': '90',
        'x-ratelimit-limit': '100',
        'x-ratelimit-remaining': '0',
        'x-ratelimit-reset': String(reset),
      },
    }),
    new Response('ok'),
  ];
  const response = await fetchRetrying(
    async () => answers.shift()!,
    'create deployment',
    {
      ...policy(sleeps),
      onRetry: (what, _n, delay, reason) => void lines.push(`${what}: ${reason} ${delay}`),
    },
    'https://broker.example/v13/deployments',
    {},
  );
  expect(response.status).toBe(200);
  // Retry-After beyond the 60 s cap: a rate limit is waited out in full, not retried early.
  expect(sleeps).toEqual([90_000]);
  expect(lines).toEqual([
    `create deployment: HTTP 429: Vercel's rate limit (100 requests, 0 left, resets ${new Date(reset * 1000).toISOString().slice(11, 19)} UTC) 90000`,
  ]);
});

test('a wait that would end past timeout-minutes gives up at once with a clear error', async () => {
  const sleeps: number[] = [];
  const limited = () =>
    new Response('{}', { status: 429, headers: { 'retry-after': '3600', 'x-ratelimit-limit': '32' } });
  await expect(
    fetchRetrying(
      async () => limited(),
      'create deployment',
      { ...policy(sleeps), deadline: 1_000_000 + 600_000, now: () => 1_000_000 },
      'https://broker.example/v13/deployments',
      {},
    ),
  ).rejects.toThrow(
    "create deployment: gave up after 1 attempt(s): HTTP 429: Vercel's rate limit (32 requests); waiting 3600 s more would pass timeout-minutes",
  );
  expect(sleeps).toEqual([]);
});
