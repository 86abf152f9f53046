/**
 * SIGHUP on the bundled broker: a valid config applies to new requests, an invalid one is refused
 * with its errors and the old one kept, secrets are read again (upstream token rotation), and the
 * signing-key rotation procedure of docs/operations.md keeps every credential working throughout.
 */
import { createHash } from 'node:crypto';
import { readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { startBrokerProcess, type RunningBroker } from '../../src/local/runner.js';
import { AUDIENCE, toYaml } from '../../src/local/config.js';
import { startBundledWorld, type BundledWorld } from '../../src/local/bundled.js';
import { UPSTREAM_TOKEN } from '../../src/local/world.js';

const ROTATED_TOKEN = 'vercel_upstream_token_rotated';
const OLD_KEY = `old:${Buffer.alloc(32, 1).toString('base64url')}`;
const NEW_KEY = `new:${Buffer.alloc(32, 2).toString('base64url')}`;
let world: BundledWorld;
const started: RunningBroker[] = [];
const sha1 = (data: string) => createHash('sha1').update(data).digest('hex');

beforeAll(async () => {
  world = await startBundledWorld({ fake: { tokens: [UPSTREAM_TOKEN, ROTATED_TOKEN] } });
});
afterAll(async () => {
  for (const broker of started) await broker.stop();
  await world.close();
});

/** Sends SIGHUP and waits for the broker's verdict line. */
async function reload(broker: RunningBroker): Promise<Record<string, unknown>> {
  const before = broker.stdout().length;
  broker.process.kill('SIGHUP');
  for (let i = 0; i < 200; i++) {
    const line = broker
      .stdout()
      .slice(before)
      .split('\n')
      .find((l) => /"msg":"config reload/.test(l));
    if (line) return JSON.parse(line) as Record<string, unknown>;
    await new Promise((r) => setTimeout(r, 25));
  }
  throw new Error(`no reload verdict in ${broker.stdout().slice(before)}`);
}

async function credentialFrom(broker: RunningBroker, ref: string): Promise<Response> {
  world.issuer.setJob({ ref });
  return fetch(`${broker.url}/v1/exchange`, {
    method: 'POST',
    body: JSON.stringify({
      token: await world.issuer.mint(AUDIENCE),
      project: 'marketing-site',
      target: 'preview',
    }),
  });
}

const upload = (broker: RunningBroker, credential: string, body: string) =>
  fetch(`${broker.url}/v2/files`, {
    method: 'POST',
    headers: { authorization: `Bearer ${credential}`, 'x-now-digest': sha1(body) },
    body,
  });

test('SIGHUP: a valid config applies to new requests; an invalid one is refused with its errors and the old one kept', async () => {
  const configPath = path.join(world.dir, 'reload.yaml');
  const original = readFileSync(world.configPath, 'utf8');
  writeFileSync(configPath, original);
  const secretFile = path.join(world.dir, 'vercel-token');
  writeFileSync(secretFile, `${UPSTREAM_TOKEN}\n`);
  const broker = await startBrokerProcess({
    configPath,
    env: { VERCEL_TOKEN_MARKETING_FILE: secretFile, KEYHOLE_SIGNING_KEY: OLD_KEY },
  });
  started.push(broker);
  expect((await credentialFrom(broker, 'refs/heads/before')).status).toBe(200);

  // Valid: the preview rule now only admits refs/heads/main.
  const previewFromMainOnly = structuredClone(world.config);
  previewFromMainOnly.projects['marketing-site']!.allow[1]!.refs = ['refs/heads/main'];
  writeFileSync(configPath, toYaml(previewFromMainOnly));
  expect(await reload(broker)).toMatchObject({ level: 'info', msg: 'config reloaded' });
  const denied = await credentialFrom(broker, 'refs/heads/before');
  expect(denied.status).toBe(403);

  // Invalid: an unknown key and a production rule without environments. Refused, old config kept.
  writeFileSync(
    configPath,
    original
      .replace('credential_ttl_seconds: 600', 'credential_ttl_secs: 600')
      .replace(/^ +environments: \[production\]\n/m, ''),
  );
  const refused = await reload(broker);
  expect(refused).toMatchObject({
    level: 'error',
    msg: 'config reload refused; the running config stays in force',
  });
  expect(refused.errors).toEqual(
    expect.arrayContaining([
      expect.stringMatching(/credential_ttl_secs: unknown key; did you mean "credential_ttl_seconds"/),
      expect.stringMatching(/environments: a rule that allows production must name environments/),
    ]),
  );
  expect((await credentialFrom(broker, 'refs/heads/other')).status).toBe(403);
  expect((await credentialFrom(broker, 'refs/heads/main')).status).toBe(200);

  // Upstream token rotation: the file changes, SIGHUP, the next upstream call carries the new token.
  const { credential } = (await (await credentialFrom(broker, 'refs/heads/main')).json()) as {
    credential: string;
  };
  writeFileSync(configPath, original);
  writeFileSync(secretFile, `${ROTATED_TOKEN}\n`);
  expect(await reload(broker)).toMatchObject({ msg: 'config reloaded' });
  world.fake.clearRecord();
  expect((await upload(broker, credential, 'rotated')).status).toBe(200);
  const upstream = world.fake.requests.find((r) => r.path === '/v2/files')!;
  expect(upstream.headers.authorization).toBe(`Bearer ${ROTATED_TOKEN}`);
  expect(broker.stdout() + broker.stderr()).not.toContain(ROTATED_TOKEN);
});

test('signing-key rotation on two instances, one SIGHUP at a time: no credential fails at any step', async () => {
  const configPath = path.join(world.dir, 'rotation.yaml');
  writeFileSync(configPath, world.configYaml({ credential_ttl_seconds: 5 }));
  const envFiles = [path.join(world.dir, 'a.env'), path.join(world.dir, 'b.env')];
  const setKeys = (file: string, value: string) =>
    writeFileSync(file, `KEYHOLE_SIGNING_KEY=${value}\nVERCEL_TOKEN_MARKETING=${UPSTREAM_TOKEN}\n`);
  for (const file of envFiles) setKeys(file, OLD_KEY);
  const [a, b] = await Promise.all(
    envFiles.map((file) => startBrokerProcess({ configPath, env: {}, args: ['--env-file', file] })),
  );
  started.push(a!, b!);
  const instances = [a!, b!];

  // Every credential still valid must work at every instance, whatever step each one is at.
  let live: { credential: string; expiresAt: number }[] = [];
  let step = 0;
  async function checkEverywhere(): Promise<void> {
    for (const [i, broker] of instances.entries()) {
      const minted = await credentialFrom(broker, `refs/heads/rotation-${step}-${i}`);
      expect(minted.status).toBe(200);
      const body = (await minted.json()) as { credential: string; expires_at: number };
      live.push({ credential: body.credential, expiresAt: body.expires_at });
    }
    // A second of margin: a credential about to expire may do so on the way (a loaded machine).
    live = live.filter((c) => c.expiresAt - Date.now() > 1_000);
    expect(live.length).toBeGreaterThan(0);
    for (const { credential, expiresAt } of live) {
      for (const broker of instances) {
        // Checked again before each call: on a loaded machine the calls before it can take seconds.
        if (expiresAt - Date.now() <= 1_000) continue;
        const body = `step ${step++}`;
        expect({ step, status: (await upload(broker, credential, body)).status }).toEqual({
          step,
          status: 200,
        });
      }
    }
  }

  await checkEverywhere();
  // Why the order matters: an instance that signs with the new key before the others know it mints
  // credentials the others refuse.
  const hasty = await startBrokerProcess({
    configPath,
    env: { KEYHOLE_SIGNING_KEY: NEW_KEY, VERCEL_TOKEN_MARKETING: UPSTREAM_TOKEN },
  });
  started.push(hasty);
  const early = ((await (await credentialFrom(hasty, 'refs/heads/hasty')).json()) as { credential: string })
    .credential;
  expect((await upload(a!, early, 'hasty')).status).toBe(401);

  // 1. Add the new key second (the old one still signs), instance by instance.
  for (const [i, broker] of instances.entries()) {
    setKeys(envFiles[i]!, `${OLD_KEY},${NEW_KEY}`);
    expect(await reload(broker)).toMatchObject({ msg: 'config reloaded', signing_keys: ['old', 'new'] });
    await checkEverywhere();
  }
  // 2. Make it first (it signs; the old one still verifies), instance by instance.
  for (const [i, broker] of instances.entries()) {
    setKeys(envFiles[i]!, `${NEW_KEY},${OLD_KEY}`);
    expect(await reload(broker)).toMatchObject({ msg: 'config reloaded', signing_keys: ['new', 'old'] });
    await checkEverywhere();
  }
  // 3. After the longest credential TTL (5 s here) no credential signed by the old key is alive: drop it.
  await new Promise((r) => setTimeout(r, 5_100));
  expect(live.filter((c) => c.expiresAt > Date.now())).toEqual([]);
  for (const [i, broker] of instances.entries()) {
    setKeys(envFiles[i]!, NEW_KEY);
    expect(await reload(broker)).toMatchObject({ msg: 'config reloaded', signing_keys: ['new'] });
    await checkEverywhere();
  }
});

test('a reload that would drop the signing keys is refused', async () => {
  const broker = started[0]!;
  const configPath = path.join(world.dir, 'reload.yaml');
  writeFileSync(configPath, `${readFileSync(world.configPath, 'utf8')}signing_key_env: KEYHOLE_OTHER_KEY\n`);
  const refused = await reload(broker);
  expect(refused).toMatchObject({ level: 'error' });
  expect(refused.errors).toEqual([
    expect.stringMatching(/KEYHOLE_OTHER_KEY is empty; a reload must not drop the signing keys/),
  ]);
  expect((await credentialFrom(broker, 'refs/heads/main')).status).toBe(200);
});

test('a SIGHUP sent the moment the broker says it listens reloads it, never stops it', async () => {
  for (let attempt = 0; attempt < 3; attempt++) {
    const broker = await startBrokerProcess({
      configPath: world.configPath,
      env: { VERCEL_TOKEN_MARKETING: UPSTREAM_TOKEN, KEYHOLE_SIGNING_KEY: OLD_KEY },
    });
    started.push(broker);
    // No pause: a config tool that reloads right after a rollout.
    expect((await reload(broker)).msg).toBe('config reloaded');
    expect(broker.process.signalCode).toBeNull();
    expect((await fetch(`${broker.url}/healthz`)).status).toBe(200);
  }
});
