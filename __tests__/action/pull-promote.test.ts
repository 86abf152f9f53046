/** The action's pull file format and its promotion wait, against an injected broker. */
import { envFileContents } from '../../src/action/pull.js';
import { promoteDeployment, PromoteError } from '../../src/action/promote.js';
import { defaultRetryPolicy } from '../../src/action/retry.js';

test('the env file is what `vercel pull` writes: sorted, quoted, newlines escaped', () => {
  expect(envFileContents({ B: 'two\nlines\r', A: 'x', EMPTY: '' })).toBe(
    '# Created by Vercel CLI\nA="x"\nB="two\\nlines\\r"\nEMPTY=""\n',
  );
});

/** A broker that answers the promote with `promoteStatus`, then the given project states in turn. */
function broker(promoteStatus: number, states: object[]) {
  const calls: string[] = [];
  let poll = 0;
  const fetch = (async (input: string | URL | Request, init?: RequestInit) => {
    const url = new URL(String(input));
    calls.push(`${init?.method ?? 'GET'} ${url.pathname}`);
    if (url.pathname === '/v13/deployments/dpl_staged')
      return Response.json({ id: 'dpl_staged', url: 'web-staged.vercel.app', readyState: 'READY' });
    if (url.pathname.includes('/promote/')) return new Response(null, { status: promoteStatus });
    return Response.json(states[Math.min(poll++, states.length - 1)]);
  }) as typeof globalThis.fetch;
  return { fetch, calls };
}

const run = (fetch: typeof globalThis.fetch, timeoutMs = 60_000) => {
  let now = 0;
  return promoteDeployment(
    {
      brokerUrl: 'http://broker.test',
      credential: 'khd_x',
      projectId: 'prj_web',
      deployment: 'dpl_staged',
      timeoutMs,
    },
    {
      fetch,
      retry: defaultRetryPolicy({ sleep: async () => undefined }),
      log: { info: () => undefined },
      // Each poll advances the clock by a second: the timeout is reached by polls, not by waiting.
      now: () => (now += 1000),
      signal: new AbortController().signal,
      pollIntervalMs: 0,
    },
  );
};

test('waits through an in-progress job until production points at the deployment', async () => {
  const { fetch, calls } = broker(201, [
    {
      lastAliasRequest: { toDeploymentId: 'dpl_staged', jobStatus: 'in-progress' },
      targets: { production: { id: 'dpl_old' } },
    },
    {
      lastAliasRequest: { toDeploymentId: 'dpl_staged', jobStatus: 'succeeded' },
      targets: { production: { id: 'dpl_staged' } },
    },
  ]);
  await expect(run(fetch)).resolves.toMatchObject({ id: 'dpl_staged', readyState: 'READY' });
  expect(calls).toEqual([
    'GET /v13/deployments/dpl_staged',
    'POST /v10/projects/prj_web/promote/dpl_staged',
    'GET /v9/projects/prj_web',
    'GET /v9/projects/prj_web',
  ]);
});

test('a queued promotion (202, a rolling release) is waited for like any other', async () => {
  const { fetch } = broker(202, [
    { lastAliasRequest: null },
    { targets: { production: { id: 'dpl_staged' } } },
  ]);
  await expect(run(fetch)).resolves.toMatchObject({ id: 'dpl_staged' });
});

test('a failed alias job fails the step, naming the deployment', async () => {
  const { fetch } = broker(201, [
    { lastAliasRequest: { toDeploymentId: 'dpl_staged', jobStatus: 'failed' } },
  ]);
  const error = await run(fetch).catch((e: unknown) => e);
  expect(error).toBeInstanceOf(PromoteError);
  expect((error as PromoteError).message).toMatch(
    /promotion failed; production still serves the previous deployment/,
  );
  expect((error as PromoteError).deployment?.id).toBe('dpl_staged');
});

test('production that never moves ends at the timeout', async () => {
  const { fetch } = broker(201, [{ targets: { production: { id: 'dpl_old' } } }]);
  await expect(run(fetch, 5000)).rejects.toThrow(/production does not point at dpl_staged after the timeout/);
});

test('a 409 (already requested by a retried call) is not an error when production points at it', async () => {
  const { fetch } = broker(409, [{ targets: { production: { id: 'dpl_staged' } } }]);
  await expect(run(fetch)).resolves.toMatchObject({ id: 'dpl_staged' });
});
