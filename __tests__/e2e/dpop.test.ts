/** require_dpop through the bundles: the action deploys with its own key; the credential alone is useless. */
import { mkdirSync, mkdtempSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { createProof, createProofKey } from '../../src/action/dpop.js';
import { runActionBundle, startBrokerProcess, type RunningBroker } from '../../src/local/runner.js';
import { auditLine, startBundledWorld, type BundledWorld } from '../../src/local/bundled.js';
import { AUDIENCE } from '../../src/local/config.js';
import { freePort } from '../../src/local/redis.js';
import { SIGNING_KEY, UPSTREAM_TOKEN } from '../../src/local/world.js';

let world: BundledWorld;
let broker: RunningBroker;
let workspace: string;

beforeAll(async () => {
  world = await startBundledWorld();
  // DPoP proofs name the broker's public URL, so it is known before the broker starts.
  const port = await freePort();
  const config = path.join(world.dir, 'dpop.yaml');
  writeFileSync(
    config,
    world.configYaml({
      public_url: `http://127.0.0.1:${port}`,
      projects: { 'marketing-site': { require_dpop: true } },
    }),
  );
  broker = await startBrokerProcess({
    configPath: config,
    port,
    env: { VERCEL_TOKEN_MARKETING: UPSTREAM_TOKEN, KEYHOLE_SIGNING_KEY: SIGNING_KEY },
  });
  workspace = mkdtempSync(path.join(world.dir, 'ws-'));
  mkdirSync(path.join(workspace, 'site'));
  writeFileSync(path.join(workspace, 'site', 'index.html'), '<h1>bound</h1>');
});
afterAll(async () => {
  await broker?.stop();
  await world.close();
});

const run = (inputs: Record<string, string>) => {
  world.issuer.setJob({});
  return runActionBundle({
    workspace,
    oidc: world.issuer,
    inputs: { 'broker-url': broker.url, audience: AUDIENCE, project: 'marketing-site', ...inputs },
  });
};

test('the action deploys with a key-bound credential; without its key, replayed, or for another URL or method, a proof is refused', async () => {
  world.fake.clearRecord();
  const deployed = await run({ path: 'site' });
  expect(deployed.code).toBe(0);
  expect(deployed.outputs['ready-state']).toBe('READY');
  expect(deployed.stdout).toMatch(/key-bound \(DPoP\) deploy credential/);
  // Upstream sees the broker's token, never the client's scheme or proof.
  const create = world.fake.requests.find((r) => r.method === 'POST' && r.path === '/v13/deployments')!;
  expect(create.headers.authorization).toBe(`Bearer ${UPSTREAM_TOKEN}`);
  expect(create.headers.dpop).toBeUndefined();

  // The action revokes its credential when done; a bound credential obtained here stays live.
  const key = await createProofKey();
  world.issuer.setJob({});
  const exchanged = await fetch(`${broker.url}/v1/exchange`, {
    method: 'POST',
    headers: { dpop: await createProof(key, 'POST', `${broker.url}/v1/exchange`) },
    body: JSON.stringify({
      token: await world.issuer.mint(AUDIENCE),
      project: 'marketing-site',
      target: 'preview',
    }),
  });
  const { credential, token_type } = (await exchanged.json()) as { credential: string; token_type: string };
  expect(token_type).toBe('DPoP');
  const url = `${broker.url}/v9/projects/prj_marketing`;
  const stolen: Record<string, string>[] = [
    { authorization: `Bearer ${credential}` },
    { authorization: `DPoP ${credential}` },
    {
      authorization: `DPoP ${credential}`,
      dpop: await createProof(await createProofKey(), 'GET', url, credential),
    },
    // The right key, but a proof made for another URL, or for another method.
    {
      authorization: `DPoP ${credential}`,
      dpop: await createProof(key, 'GET', `${broker.url}/v2/user`, credential),
    },
    { authorization: `DPoP ${credential}`, dpop: await createProof(key, 'POST', url, credential) },
  ];
  for (const headers of stolen) expect((await fetch(url, { headers })).status).toBe(401);
  const proof = await createProof(key, 'GET', url, credential);
  expect((await fetch(url, { headers: { authorization: `DPoP ${credential}`, dpop: proof } })).status).toBe(
    200,
  );
  expect((await fetch(url, { headers: { authorization: `DPoP ${credential}`, dpop: proof } })).status).toBe(
    401,
  );
  for (const reason of [
    'dpop proof missing',
    'dpop proof wrong_key',
    'dpop proof wrong_request',
    'dpop proof replayed',
  ])
    expect(await auditLine(broker, (l) => l.reason === reason)).toMatchObject({
      decision: 'deny',
      run_url: expect.stringMatching(/\/actions\/runs\/7000000001\/job\/\d+$/),
    });
});

test('credential-only mode (deploy: false) is refused for a require_dpop project, saying why', async () => {
  const refused = await run({ deploy: 'false' });
  expect(refused.code).not.toBe(0);
  expect(refused.stdout).toMatch(/requires DPoP-bound credentials \(require_dpop: true\)/);
  expect(refused.stdout).toMatch(/official Vercel CLI cannot send DPoP proofs/);
  // What to change is the step's input (or the project's require_dpop), not "the project and target inputs".
  expect(refused.stdout).toMatch(/remove deploy: false from this step/);
  expect(refused.stdout).not.toMatch(/check the project and target inputs/);
});

test('a broker whose public_url is not the address the action uses: the refusal names public_url and broker-url', async () => {
  const port = await freePort();
  const config = path.join(world.dir, 'dpop-wrong-url.yaml');
  writeFileSync(
    config,
    world.configYaml({
      public_url: 'https://keyhole.example.com',
      projects: { 'marketing-site': { require_dpop: true } },
    }),
  );
  const misconfigured = await startBrokerProcess({
    configPath: config,
    port,
    env: { VERCEL_TOKEN_MARKETING: UPSTREAM_TOKEN, KEYHOLE_SIGNING_KEY: SIGNING_KEY },
  });
  try {
    world.issuer.setJob({});
    const refused = await runActionBundle({
      workspace,
      oidc: world.issuer,
      inputs: {
        'broker-url': misconfigured.url,
        audience: AUDIENCE,
        project: 'marketing-site',
        path: 'site',
      },
    });
    expect(refused.code).not.toBe(0);
    expect(refused.stdout).toContain(
      `The DPoP proof names the broker at ${misconfigured.url}, but this broker's public_url is https://keyhole.example.com: point the client (the action's broker-url input) at https://keyhole.example.com, or, if clients do reach the broker at ${misconfigured.url}, set public_url: ${misconfigured.url} in the broker config.`,
    );
    expect(refused.stdout).toMatch(/Set broker-url to it, or ask your Keyhole admins to correct public_url/);
    expect(refused.stdout).not.toMatch(/check the project and target inputs/);
  } finally {
    await misconfigured.stop();
  }
});
