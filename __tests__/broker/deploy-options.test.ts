/** The broker's rules for deploy options (issue 23.4): build_env_names, reserved meta keys, archive creates. */
import { createHash } from 'node:crypto';
import { startWorld, type World } from '../../src/local/world.js';

let world: World;
let credential: string;
beforeAll(async () => {
  world = await startWorld({
    config: { projects: { 'marketing-site': { build_env_names: ['NEXT_PUBLIC_FLAG'] } } },
  });
  credential = await world.credential({ ref: 'refs/heads/feature' });
});
afterAll(() => world.close());
beforeEach(() => world.fake.clearRecord());

let n = 0;
const create = (body: Record<string, unknown>) =>
  world.call(credential, 'POST', '/v13/deployments', {
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ name: 'x', files: [{ file: `i${n++}.html`, data: 'aGk=' }], ...body }),
  });
const creates = () => world.fake.requests.filter((r) => r.path === '/v13/deployments');

test.each([
  [
    'env',
    { env: { DATABASE_URL: 'x' } },
    /env\.DATABASE_URL is not allowed: build_env_names of project marketing-site/,
  ],
  ['build.env', { build: { env: { OTHER: '1' } } }, /build\.env\.OTHER is not allowed: build_env_names/],
  ['a reserved meta key', { meta: { githubCommitSha: 'forged' } }, /meta\.githubCommitSha is not allowed/],
  [
    'a reserved meta key in another case',
    { meta: { KEYHOLEStamp: 'x' } },
    /meta\.KEYHOLEStamp is not allowed/,
  ],
])('%s outside the rules is refused 403, nothing reaches Vercel', async (_name, body, message) => {
  const response = await create(body);
  expect(response.status).toBe(403);
  expect(JSON.stringify(await response.json())).toMatch(message);
  expect(creates()).toHaveLength(0);
});

test('names in build_env_names and ordinary meta pass', async () => {
  const response = await create({
    env: { NEXT_PUBLIC_FLAG: 'on' },
    build: { env: { NEXT_PUBLIC_FLAG: 'beta' } },
    meta: { team: 'web' },
  });
  expect(response.status).toBe(200);
  const body = creates()[0]!.json as Record<string, Record<string, unknown>>;
  expect(body.env).toEqual({ NEXT_PUBLIC_FLAG: 'on' });
  expect(body.meta!.team).toBe('web');
});

test('an archive create lists its parts; Vercel (the fake) gets exactly those', async () => {
  const sha = createHash('sha1').update('not uploaded').digest('hex');
  const response = await world.call(credential, 'POST', '/v13/deployments', {
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ name: 'x', files: [{ file: '.vercel/source.tgz.part1', sha, size: 12 }] }),
  });
  // Forwarded: the fake answers missing_files for the part nobody uploaded.
  expect(response.status).toBe(400);
  expect(JSON.stringify(await response.json())).toContain('missing_files');
  expect(creates()).toHaveLength(1);
});
