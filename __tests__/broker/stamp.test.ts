/** The "created by the broker" stamp: every forwarded create carries it; only the broker's keys make one that verifies. */
import { loadSigningKeys } from '../../src/broker/credential/credential.js';
import { stampMeta, verifiedStamp } from '../../src/broker/gateway/stamp.js';
import { SIGNING_KEY, startWorld, type World } from '../../src/local/world.js';

let world: World;
beforeAll(async () => {
  world = await startWorld();
});
afterAll(() => world.close());

const FACTS = {
  firstHand: true,
  projectId: 'prj_marketing',
  target: 'preview',
  ref: 'refs/pull/7/merge',
  sha: 'a'.repeat(40),
};

/** A deployment as Vercel answers it, with the meta a stamped create carries. */
const deploymentWith = (meta: Record<string, string>, target: string | null = null) => ({
  id: 'dpl_x',
  projectId: FACTS.projectId,
  target,
  meta: { keyholeRef: FACTS.ref, githubCommitSha: FACTS.sha, keyholeCreateKey: 'c'.repeat(64), ...meta },
});

test('a create forwarded through the gateway carries a stamp that verifies with its project, target, ref and sha', async () => {
  const credential = await world.credential({ ref: 'refs/heads/feature/x' });
  const response = await world.call(credential, 'POST', '/v13/deployments', {
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({
      name: 'x',
      files: [{ file: 'index.html', data: '<h1>x</h1>' }],
      meta: { note: 'x' },
    }),
  });
  expect(response.status).toBe(200);
  const { id } = (await response.json()) as { id: string };
  const created = world.fake.deployments.get(id)!;
  const meta = created.body.meta as Record<string, string>;
  expect(meta.keyholeStamp).toMatch(/^v1\.k1\.[0-9a-f]{64}$/);
  expect(meta.keyholeTarget).toBe('preview');
  // A client's look-alike stamp is refused outright (reserved meta keys), nothing created.
  const before = world.fake.deployments.size;
  const forged = await world.call(credential, 'POST', '/v13/deployments', {
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({
      name: 'x',
      files: [{ file: 'index.html', data: '<h1>x</h1>' }],
      meta: { keyholeStamp: 'v1.k1.' + 'f'.repeat(64), keyholeTarget: 'production' },
    }),
  });
  expect(forged.status).toBe(403);
  expect(world.fake.deployments.size).toBe(before);
  const read = (await (await world.call(credential, 'GET', `/v13/deployments/${id}`)).json()) as Record<
    string,
    unknown
  >;
  expect(await verifiedStamp(world.keys, read)).toEqual({
    projectId: 'prj_marketing',
    target: 'preview',
    ref: 'refs/heads/feature/x',
    sha: expect.stringMatching(/^[0-9a-f]{40}$/),
    firstHand: true,
  });
});

test('meta that only looks like Keyhole’s, a changed field or another project does not verify', async () => {
  const stamp = await stampMeta(world.keys, FACTS, 'c'.repeat(64));
  expect(await verifiedStamp(world.keys, deploymentWith(stamp))).toMatchObject(FACTS);
  // Forged by someone holding the real Vercel token, without the broker's key.
  expect(
    await verifiedStamp(
      world.keys,
      deploymentWith({ keyholeTarget: 'preview', keyholeStamp: `v1.k1.${'0'.repeat(64)}` }),
    ),
  ).toBeUndefined();
  // The stamp copied onto a deployment of another branch, commit, project or target.
  for (const changed of [
    { ...deploymentWith(stamp), meta: { ...deploymentWith(stamp).meta, keyholeRef: 'refs/pull/8/merge' } },
    { ...deploymentWith(stamp), meta: { ...deploymentWith(stamp).meta, githubCommitSha: 'b'.repeat(40) } },
    { ...deploymentWith(stamp), projectId: 'prj_billing' },
    { ...deploymentWith(stamp), meta: { ...deploymentWith(stamp).meta, keyholeTarget: 'production' } },
    deploymentWith(stamp, 'production'),
  ])
    expect(await verifiedStamp(world.keys, changed)).toBeUndefined();
});

test('after a key rotation the previous key still verifies; a key no longer listed does not', async () => {
  const stamp = await stampMeta(world.keys, FACTS, 'c'.repeat(64));
  const rotated = await loadSigningKeys(
    `k2:${Buffer.alloc(32, 9).toString('base64url')},${SIGNING_KEY}`,
    'KEYHOLE_SIGNING_KEY',
  );
  expect(await verifiedStamp(rotated, deploymentWith(stamp))).toMatchObject(FACTS);
  const newStamp = await stampMeta(rotated, FACTS, 'c'.repeat(64));
  expect(newStamp.keyholeStamp).toMatch(/^v1\.k2\./);
  expect(await verifiedStamp(rotated, deploymentWith(newStamp))).toMatchObject(FACTS);
  const onlyNew = await loadSigningKeys(`k2:${Buffer.alloc(32, 9).toString('base64url')}`, 'K');
  expect(await verifiedStamp(onlyNew, deploymentWith(stamp))).toBeUndefined();
});
