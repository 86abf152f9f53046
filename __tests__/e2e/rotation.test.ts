/**
 * docs/operations.md's runbook "A Vercel token, without a restart", step by step on two bundled
 * broker instances reading the token through `VERCEL_TOKEN_MARKETING_FILE`: the strict Vercel fake
 * accepts exactly the tokens Vercel would at each step, and deploy calls keep working throughout.
 */
import { createHash } from 'node:crypto';
import { readFileSync, renameSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { AUDIENCE } from '../../src/local/config.js';
import { startBundledWorld, type BundledWorld } from '../../src/local/bundled.js';
import { REPO_ROOT, startBrokerProcess, type RunningBroker } from '../../src/local/runner.js';
import { SIGNING_KEY, UPSTREAM_TOKEN } from '../../src/local/world.js';

const NEW_TOKEN = 'vercel_upstream_token_rotated_by_runbook';
let world: BundledWorld;
const started: RunningBroker[] = [];
const sha1 = (data: string) => createHash('sha1').update(data).digest('hex');

beforeAll(async () => {
  world = await startBundledWorld();
});
afterAll(async () => {
  for (const broker of started) await broker.stop();
  await world.close();
});

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

/** A credential from `broker`, then one upload through it: the status Vercel's answer gave. */
async function uploadThrough(broker: RunningBroker, label: string): Promise<number> {
  world.issuer.setJob({ ref: `refs/heads/${label}` });
  const exchanged = await fetch(`${broker.url}/v1/exchange`, {
    method: 'POST',
    body: JSON.stringify({ token: await world.issuer.mint(AUDIENCE), project: 'marketing-site' }),
  });
  expect(exchanged.status).toBe(200);
  const { credential } = (await exchanged.json()) as { credential: string };
  const body = `rotation ${label}`;
  const answer = await fetch(`${broker.url}/v2/files`, {
    method: 'POST',
    headers: { authorization: `Bearer ${credential}`, 'x-now-digest': sha1(body) },
    body,
  });
  await answer.body?.cancel();
  return answer.status;
}

test('the Vercel token runbook, step by step, on two instances: no call fails, the old token is unused at the end', async () => {
  // The runbook exists as the test performs it.
  const doc = readFileSync(path.join(REPO_ROOT, 'docs', 'operations.md'), 'utf8');
  for (const step of [
    '1. **Create the new token in Vercel**',
    '2. **Write it to the file**',
    '3. **Reload every instance**',
    '4. **Check**',
    '5. **Revoke the old token in Vercel.**',
  ])
    expect(doc).toContain(step);

  const tokenFile = path.join(world.dir, 'vercel-token');
  writeFileSync(tokenFile, `${UPSTREAM_TOKEN}\n`);
  const instances = await Promise.all(
    [0, 1].map(() =>
      startBrokerProcess({
        configPath: world.configPath,
        env: {
          VERCEL_TOKEN_MARKETING_FILE: tokenFile,
          VERCEL_TOKEN_BILLING: UPSTREAM_TOKEN,
          KEYHOLE_SIGNING_KEY: SIGNING_KEY,
        },
      }),
    ),
  );
  started.push(...instances);
  for (const [i, broker] of instances.entries()) expect(await uploadThrough(broker, `before-${i}`)).toBe(200);

  // 1. Create the new token in Vercel: both are valid now.
  world.fake.tokens.add(NEW_TOKEN);
  // 2. Write it to the file (a temp file renamed over the old one, as a Secret volume does).
  writeFileSync(`${tokenFile}.tmp`, `${NEW_TOKEN}\n`);
  renameSync(`${tokenFile}.tmp`, tokenFile);
  // Not yet reloaded: the instances still send the old token, which still works.
  for (const [i, broker] of instances.entries())
    expect(await uploadThrough(broker, `written-${i}`)).toBe(200);
  // 3. Reload every instance.
  for (const broker of instances) expect(await reload(broker)).toMatchObject({ msg: 'config reloaded' });
  // 4. Check: calls work, and Vercel now sees the new token only.
  world.fake.clearRecord();
  for (const [i, broker] of instances.entries())
    expect(await uploadThrough(broker, `reloaded-${i}`)).toBe(200);
  // 5. Revoke the old token in Vercel: nothing used it any more, nothing fails.
  world.fake.tokens.delete(UPSTREAM_TOKEN);
  for (const [i, broker] of instances.entries())
    expect(await uploadThrough(broker, `revoked-${i}`)).toBe(200);
  expect(world.fake.requests.filter((r) => r.path === '/v2/files').length).toBe(4);
  // The token file's content never reaches a log line.
  for (const broker of instances) expect(broker.stdout() + broker.stderr()).not.toContain(NEW_TOKEN);
});

test('without the reload (step 3), revoking the old token breaks the instance: the runbook order matters', async () => {
  const tokenFile = path.join(world.dir, 'vercel-token-skipped');
  const current = [...world.fake.tokens][0]!;
  writeFileSync(tokenFile, `${current}\n`);
  const broker = await startBrokerProcess({
    configPath: world.configPath,
    env: {
      VERCEL_TOKEN_MARKETING_FILE: tokenFile,
      VERCEL_TOKEN_BILLING: UPSTREAM_TOKEN,
      KEYHOLE_SIGNING_KEY: SIGNING_KEY,
    },
  });
  started.push(broker);
  const next = `${current}-next`;
  world.fake.tokens.add(next);
  writeFileSync(tokenFile, `${next}\n`);
  world.fake.tokens.delete(current);
  expect(await uploadThrough(broker, 'skipped')).not.toBe(200);
  expect(await reload(broker)).toMatchObject({ msg: 'config reloaded' });
  expect(await uploadThrough(broker, 'skipped-reloaded')).toBe(200);
});
