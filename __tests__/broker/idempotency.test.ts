/** A create never yields two deployments: repeated creates and ambiguous upstream failures answer with the first. */
import { createHash } from 'node:crypto';
import { storeKeys } from '../../src/broker/store/store.js';
import { startWorld, type World } from '../../src/local/world.js';

let world: World;
beforeAll(async () => {
  world = await startWorld({ extraConfig: 'limits:\n  upstream_timeout_seconds: 5\n' });
});
afterAll(() => world.close());

const sha1 = (data: string) => createHash('sha1').update(data).digest('hex');

async function prepare(content: string) {
  const credential = await world.credential({ ref: `refs/heads/${content}` });
  await world.call(credential, 'POST', '/v2/files', {
    body: content,
    headers: { 'x-now-digest': sha1(content) },
  });
  const body = JSON.stringify({
    name: 'x',
    files: [{ file: 'index.html', sha: sha1(content), size: content.length }],
  });
  const create = () => world.call(credential, 'POST', '/v13/deployments', { body });
  return { credential, create };
}

const idOf = async (response: Response) => ((await response.json()) as { id: string }).id;

test('a repeated create with the same credential and body returns the same deployment', async () => {
  const { create } = await prepare('repeat');
  const before = world.fake.deployments.size;
  const first = await create();
  const second = await create();
  expect([first.status, second.status]).toEqual([200, 200]);
  expect(await idOf(second)).toBe(await idOf(first));
  expect(world.fake.deployments.size).toBe(before + 1);
});

test('concurrent identical creates make one deployment', async () => {
  const { create } = await prepare('concurrent');
  const before = world.fake.deployments.size;
  const answers = await Promise.all([create(), create(), create()]);
  const ids = await Promise.all(answers.map(idOf));
  expect(new Set(ids).size).toBe(1);
  expect(world.fake.deployments.size).toBe(before + 1);
});

test('a create whose answer was lost upstream (reset after processing) is found, not repeated', async () => {
  const { create } = await prepare('ambiguous');
  const before = world.fake.deployments.size;
  world.fake.inject({ kind: 'reset-after', method: 'POST', path: '/v13/deployments' });
  const response = await create();
  expect(response.status).toBe(200);
  const id = await idOf(response);
  expect(world.fake.deployments.get(id)).toBeDefined();
  expect(world.fake.deployments.size).toBe(before + 1);
  // and the client's own retry gets the same one
  expect(await idOf(await create())).toBe(id);
  expect(world.fake.deployments.size).toBe(before + 1);
});

test('a 502 after the deployment was created upstream is also resolved to that deployment', async () => {
  const { create } = await prepare('bad-gateway');
  const before = world.fake.deployments.size;
  world.fake.inject({ kind: 'reset-after', method: 'POST', path: '/v13/deployments' });
  world.fake.inject({ kind: 502, method: 'GET', path: '/v6/deployments' });
  // The lookup itself failed: the client sees an error and retries; the retry finds the deployment.
  const first = await create();
  expect(first.status).toBe(502);
  const second = await create();
  expect(second.status).toBe(200);
  expect(world.fake.deployments.size).toBe(before + 1);
});

test('a different body is a different deployment; missing_files does not count as a create', async () => {
  const { credential } = await prepare('different');
  const make = (file: string) =>
    world.call(credential, 'POST', '/v13/deployments', {
      body: JSON.stringify({ name: 'x', files: [{ file, sha: sha1('different'), size: 9 }] }),
    });
  const a = await idOf(await make('a.html'));
  const b = await idOf(await make('b.html'));
  expect(a).not.toBe(b);
  const missing = await world.call(credential, 'POST', '/v13/deployments', {
    body: JSON.stringify({ name: 'x', files: [{ file: 'c.html', sha: sha1('never uploaded'), size: 1 }] }),
  });
  expect(missing.status).toBe(400);
});

test('a store that fails to write the record of a create Vercel made: the retry answers that deployment, never a second', async () => {
  const { create } = await prepare('record-lost');
  const before = world.fake.deployments.size;
  const store = world.replay;
  const put = store.put.bind(store);
  let failed = 0;
  // The store goes away just after Vercel answered: the create's record cannot be written.
  store.put = (key, value, ttl) => {
    if (key.startsWith(storeKeys.createRecord('', '').split(':')[0]!) && failed++ === 0)
      return Promise.reject(new Error('store unavailable'));
    return put(key, value, ttl);
  };
  try {
    const first = await create();
    expect(first.status).toBeGreaterThanOrEqual(500);
    expect(world.fake.deployments.size).toBe(before + 1);
    const retry = await create();
    expect(retry.status).toBe(200);
    expect(world.fake.deployments.get(await idOf(retry))).toBeDefined();
    expect(world.fake.deployments.size).toBe(before + 1);
  } finally {
    store.put = put;
  }
});
