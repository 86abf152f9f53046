/** 10,000 seeded random requests with a valid credential: no 5xx of the broker's own, nothing forbidden upstream. */
import { mulberry32 } from '../../src/local/vercel/index.js';
import { startWorld, UPSTREAM_TOKEN, type World } from '../../src/local/world.js';

let world: World;
beforeAll(async () => {
  world = await startWorld();
});
afterAll(() => world.close());

/** What may reach Vercel, ever: the gateway's allow-list plus its own ownership lookups. */
const UPSTREAM_ALLOWED = [
  /^POST \/v2\/files$/,
  /^POST \/v13\/deployments$/,
  /^GET \/v13\/deployments\/[A-Za-z0-9][A-Za-z0-9._-]*$/,
  /^GET \/v3\/deployments\/[A-Za-z0-9][A-Za-z0-9._-]*\/events$/,
  /^PATCH \/v12\/deployments\/[A-Za-z0-9][A-Za-z0-9._-]*\/cancel$/,
  /^GET \/v9\/projects\/prj_marketing$/,
  /^GET \/v6\/deployments$/,
];

test('fuzzing the gateway', async () => {
  const random = mulberry32(20261124);
  const pick = <T>(items: readonly T[]): T => items[Math.floor(random() * items.length)]!;
  const credential = await world.credential();
  const ids = [
    'dpl_x',
    'prj_marketing',
    'prj_billing',
    'billing',
    'marketing-site',
    '..',
    '.',
    '%2e%2e',
    'a%2Fb',
    '',
    'x'.repeat(300),
    'dpl_${1}',
    '😀',
    'team_abc123',
  ];
  const templates = [
    () => '/v2/files',
    () => '/v13/deployments',
    () => `/v13/deployments/${pick(ids)}`,
    () => `/v3/deployments/${pick(ids)}/events`,
    () => `/v3/now/deployments/${pick(ids)}/events`,
    () => `/v12/deployments/${pick(ids)}/cancel`,
    () => `/v9/projects/${pick(ids)}`,
    () => `/v10/projects/${pick(ids)}/env`,
    () => `/v3/env/pull/${pick(ids)}/production`,
    () => `/v3/env/pull/${pick(ids)}/${pick(['preview', 'development', 'Preview'])}/${pick(ids)}`,
    () => `/v3/env/pull/prj_marketing/preview/${pick(['main', 'feature%2Fx', '%2e%2e', '%2F', 'a%2Fb%2Fc'])}`,
    () => `/v10/projects/${pick(ids)}/promote/${pick(ids)}`,
    () => '/v2/user',
    () => `/teams/${pick(ids)}`,
    () => `/${pick(['v1', 'v2', 'v13', 'V13', 'api'])}/${pick(ids)}/${pick(ids)}`,
    () => `/v13//deployments/${pick(ids)}`,
    () => `/v13/deployments/${pick(ids)}/../../v10/projects/prj_billing/env`,
    () => '/healthz',
  ];
  const queries = [
    '',
    '?teamId=team_evil',
    '?slug=evil',
    '?teamId=a&teamId=b',
    '?prebuilt=1',
    '?prebuilt=2',
    '?forceNew=1&skipAutoDetectionConfirmation=1',
    '?follow=1&format=lines',
    '?until=1',
    '?projectId=prj_billing',
  ];
  const fields = [
    'name',
    'project',
    'target',
    'customEnvironmentSlugOrId',
    'deploymentId',
    'gitSource',
    'alias',
    'env',
    'build',
    'meta',
    'projectSettings',
    'files',
    'withLatestCommit',
    'regions',
    'gitMetadata',
    '__proto__',
    'constructor',
  ];
  const values = (): unknown =>
    pick<() => unknown>([
      () => 'prj_billing',
      () => 'production',
      () => 'staging',
      () => '@secret',
      () => ({ A: '@x' }),
      () => ({ env: { K: '@v' } }),
      () => [{ file: pick(['../x', '/abs', 'ok.html', 'a/./b']), sha: 'a'.repeat(40), size: 1, mode: 33188 }],
      () => [{ file: 'i.html', data: 'aGk=' }],
      () => null,
      () => 12,
      () => ['billing.acme.com'],
    ])();
  const bodies = [
    () => undefined,
    () => 'not json',
    () => '{"unterminated": ',
    () =>
      JSON.stringify(
        Object.fromEntries(
          Array.from({ length: 1 + Math.floor(random() * 4) }, () => [pick(fields), values()]),
        ),
      ),
    () =>
      JSON.stringify({
        name: 'x',
        files: [{ file: 'i.html', data: 'aGk=' }],
        target: pick(['preview', 'production', undefined]),
      }),
  ];
  const headerSets = [
    () => ({}),
    () => ({ 'x-vercel-digest': 'a'.repeat(40) }),
    () => ({ 'x-now-digest': 'zz', 'x-now-size': '-1' }),
    () => ({ 'x-http-method-override': 'DELETE' }),
    () => ({ 'content-type': 'application/json' }),
    () => ({ 'x-now-size': '99999999999999' }),
  ];
  const methods = ['GET', 'POST', 'PUT', 'PATCH', 'DELETE', 'HEAD', 'OPTIONS'];
  const ownFailures: string[] = [];
  const statuses = new Map<number, number>();
  let sent = 0;
  for (let i = 0; i < 10_000; i++) {
    const method = pick(methods);
    const rawTarget = pick(templates)() + pick(queries);
    const body = method === 'GET' || method === 'HEAD' ? undefined : pick(bodies)();
    let request: Request;
    try {
      request = new Request(`http://broker.test${rawTarget.replace(/[^\x21-\x7e]/g, encodeURIComponent)}`, {
        method,
        headers: { authorization: `Bearer ${credential}`, ...pick(headerSets)() },
        ...(body !== undefined ? { body } : {}),
      });
    } catch {
      continue; // a request fetch itself cannot express
    }
    const response = await world.broker.fetch(request, rawTarget);
    sent += 1;
    statuses.set(response.status, (statuses.get(response.status) ?? 0) + 1);
    const text = method === 'HEAD' ? '' : await response.text();
    if (response.status >= 500 && !/"code":"(upstream_error|unavailable)"/.test(text)) {
      ownFailures.push(`${method} ${rawTarget} → ${response.status} ${text.slice(0, 120)}`);
    }
  }
  expect(ownFailures).toEqual([]);
  const upstream = world.fake.requests.map((r) => `${r.method} ${r.path}`);
  expect(upstream.filter((call) => !UPSTREAM_ALLOWED.some((allowed) => allowed.test(call)))).toEqual([]);
  expect(world.fake.requests.filter((r) => r.query.teamId !== 'team_abc123')).toEqual([]);
  expect(world.fake.requests.filter((r) => r.headers.authorization !== `Bearer ${UPSTREAM_TOKEN}`)).toEqual(
    [],
  );
  expect(world.fake.requests.filter((r) => JSON.stringify(r.json ?? {}).includes('prj_billing'))).toEqual([]);
  // The run really exercised the gateway: nearly every request was sent, and both refusals and
  // forwarded calls (successes and upstream 4xx alike) occurred.
  expect(sent).toBeGreaterThan(9_000);
  expect(statuses.get(403)).toBeGreaterThan(1_000);
  expect([...statuses.keys()].some((status) => status === 200)).toBe(true);
  expect(world.fake.requests.length).toBeGreaterThan(50);
  console.log(
    `fuzz: ${sent} sent, statuses ${JSON.stringify(Object.fromEntries(statuses))}, ${world.fake.requests.length} forwarded`,
  );
}, 120_000);
