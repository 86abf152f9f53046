/**
 * docs/operations.md's runbook "The GitHub App's private key, without a restart", step by step on
 * bundled broker instances reading the key through `KEYHOLE_GITHUB_APP_KEY_FILE`: the local GitHub
 * holds both keys between steps 1 and 5, exchanges (whose job-running check asks GitHub) never fail,
 * and an instance that missed the reload fails closed once the old key is deleted.
 */
import { readFileSync, renameSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { AUDIENCE } from '../../src/local/config.js';
import { startBundledWorld, type BundledWorld } from '../../src/local/bundled.js';
import { defaultClaims } from '../../src/local/github-oidc.js';
import { startGitHubApi, type GitHubApiFake } from '../../src/local/github-api/index.js';
import { REPO_ROOT, startBrokerProcess, type RunningBroker } from '../../src/local/runner.js';
import { SIGNING_KEY, UPSTREAM_TOKEN } from '../../src/local/world.js';

let github: GitHubApiFake;
let world: BundledWorld;
const started: RunningBroker[] = [];

beforeAll(async () => {
  github = await startGitHubApi();
  github.setRepository({ owner: 'acme', name: 'marketing', id: 123456789, ownerId: 987654 });
  github.setRepository({ owner: 'acme', name: 'billing', id: 555, ownerId: 987654 });
  world = await startBundledWorld({
    extraConfig: `github_app:\n  app_id: "${github.appId}"\n  private_key_env: KEYHOLE_GITHUB_APP_KEY\n  api_url: ${github.url}\n`,
    env: { KEYHOLE_GITHUB_APP_KEY: github.privateKey },
  });
});
afterAll(async () => {
  for (const broker of started) await broker.stop();
  await world?.close();
  await github?.close();
});

/** The runbook's numbered steps as docs/operations.md states them (their bold text). */
function runbookSteps(): string[] {
  const doc = readFileSync(path.join(REPO_ROOT, 'docs', 'operations.md'), 'utf8');
  const section = doc.split("### The GitHub App's private key, without a restart (runbook)")[1];
  if (!section) throw new Error('docs/operations.md has no GitHub App key runbook');
  return [...section.split('\n### ')[0]!.matchAll(/^(\d)\. \*\*([^*]+)\*\*/gm)].map(
    (m) => `${m[1]}. ${m[2]}`,
  );
}

async function startInstance(keyFile: string): Promise<RunningBroker> {
  const broker = await startBrokerProcess({
    configPath: world.configPath,
    env: {
      KEYHOLE_GITHUB_APP_KEY_FILE: keyFile,
      VERCEL_TOKEN_MARKETING: UPSTREAM_TOKEN,
      VERCEL_TOKEN_BILLING: UPSTREAM_TOKEN,
      KEYHOLE_SIGNING_KEY: SIGNING_KEY,
    },
  });
  started.push(broker);
  return broker;
}

/** The first JSON log line after `from` whose `msg` matches. */
async function logLine(broker: RunningBroker, msg: RegExp, from = 0): Promise<Record<string, unknown>> {
  for (let i = 0; i < 800; i++) {
    const line = broker
      .stdout()
      .slice(from)
      .split('\n')
      .find((l) => l.startsWith('{') && msg.test((JSON.parse(l) as { msg?: string }).msg ?? ''));
    if (line) return JSON.parse(line) as Record<string, unknown>;
    await new Promise((r) => setTimeout(r, 25));
  }
  throw new Error(`no log line ${msg} in ${broker.stdout().slice(from)}`);
}

async function reload(broker: RunningBroker): Promise<Record<string, unknown>> {
  const from = broker.stdout().length;
  broker.process.kill('SIGHUP');
  return logLine(broker, /^config reload/, from);
}

let nextJob = 72_000;
/** An exchange for a new running job of `repository` (its job-running check asks the local GitHub). */
async function exchange(broker: RunningBroker, repository: 'acme/marketing' | 'acme/billing') {
  const id = String(nextJob++);
  github.setCheckRun(repository, id, 'in_progress');
  const claims = {
    repository,
    repository_id: repository === 'acme/billing' ? '555' : '123456789',
    ref: 'refs/heads/feature',
    run_id: `8${id}`,
    check_run_id: id,
  };
  const response = await fetch(`${broker.url}/v1/exchange`, {
    method: 'POST',
    body: JSON.stringify({
      token: await world.issuer.mint(AUDIENCE, defaultClaims(claims)),
      project: repository === 'acme/billing' ? 'billing' : 'marketing-site',
      target: 'preview',
    }),
  });
  await response.body?.cancel();
  return { status: response.status, retryAfter: response.headers.get('retry-after') };
}

const tokenMints = () =>
  github.requests.filter((r) => /^\/app\/installations\/\d+\/access_tokens$/.test(r.path)).length;

test('the GitHub App key runbook, step by step, on two instances: no exchange fails; one that missed the reload fails closed', async () => {
  // The test performs exactly the runbook's steps, in the runbook's order.
  expect(runbookSteps()).toEqual([
    "1. Generate a new private key in the App's settings",
    '2. Write it to the file',
    '3. Reload every instance',
    '4. Check',
    '5. Delete the old key in GitHub.',
  ]);

  const keyFile = path.join(world.dir, 'github-app-key.pem');
  writeFileSync(keyFile, github.privateKey);
  const [oldKey] = github.appKeys();
  const instances = await Promise.all([0, 1].map(() => startInstance(keyFile)));
  // An instance whose operator forgets step 3.
  const missed = await startInstance(keyFile);
  for (const broker of [...instances, missed]) {
    expect(await logLine(broker, /^replay store$/)).toMatchObject({ github_app_key: oldKey });
    expect(await exchange(broker, 'acme/marketing')).toMatchObject({ status: 200 });
  }

  // 1. Generate a new private key in the App's settings: GitHub accepts both now.
  const fresh = await github.addAppKey();
  expect(github.appKeys()).toEqual([oldKey, fresh.fingerprint]);
  // 2. Write it to the file (a temp file renamed over the old one, as a Secret volume does).
  writeFileSync(`${keyFile}.tmp`, fresh.privateKey);
  renameSync(`${keyFile}.tmp`, keyFile);
  // Not yet reloaded: the instances still sign with the old key, which still works.
  let mark = github.jwtKeysUsed.length;
  for (const broker of instances)
    expect(await exchange(broker, 'acme/billing')).toMatchObject({ status: 200 });
  expect(new Set(github.jwtKeysUsed.slice(mark))).toEqual(new Set([oldKey]));

  // 3. Reload every instance: each says which key it signs with from now on.
  for (const broker of instances)
    expect(await reload(broker)).toMatchObject({ msg: 'config reloaded', github_app_key: fresh.fingerprint });

  // 4. Check: exchanges work, and GitHub sees JWTs of the new key only.
  mark = github.jwtKeysUsed.length;
  for (const broker of instances)
    for (const repository of ['acme/marketing', 'acme/billing'] as const)
      expect(await exchange(broker, repository)).toMatchObject({ status: 200 });
  expect(github.jwtKeysUsed.length).toBeGreaterThan(mark);
  expect(new Set(github.jwtKeysUsed.slice(mark))).toEqual(new Set([fresh.fingerprint]));

  // 5. Delete the old key in GitHub: the reloaded instances do not notice.
  github.deleteAppKey(oldKey!);
  for (const broker of instances)
    for (const repository of ['acme/marketing', 'acme/billing'] as const)
      expect(await exchange(broker, repository)).toMatchObject({ status: 200 });

  // The instance that missed step 3: the installation token it minted with the old key stays
  // valid until it expires (no new token asked for), so its repository keeps working...
  const mints = tokenMints();
  expect(await exchange(missed, 'acme/marketing')).toMatchObject({ status: 200 });
  expect(tokenMints()).toBe(mints);
  // ...and the first request that needs the app's JWT fails closed, naming the key file.
  const from = missed.stdout().length;
  const refused = await exchange(missed, 'acme/billing');
  expect(refused.status).toBe(503);
  expect(refused.retryAfter).toMatch(/^\d+$/);
  const warning = await logLine(missed, /^cannot confirm with GitHub that the job is running$/, from);
  expect(warning).toMatchObject({ decision: 'refused (fail_closed)' });
  expect(String(warning.reason)).toContain(
    `GitHub refused the App's JWT (401): the private key read from KEYHOLE_GITHUB_APP_KEY_FILE (${keyFile})`,
  );
  // Its reload (step 3, late) mends it.
  expect(await reload(missed)).toMatchObject({ msg: 'config reloaded', github_app_key: fresh.fingerprint });
  expect(await exchange(missed, 'acme/billing')).toMatchObject({ status: 200 });

  // The key file's content never reaches a log line.
  const keyBody = fresh.privateKey.split('\n')[1]!;
  for (const broker of [...instances, missed])
    expect(broker.stdout() + broker.stderr()).not.toContain(keyBody);
});

test('a key file that is not a private key is refused by the reload: the key in force stays', async () => {
  const keyFile = path.join(world.dir, 'github-app-key-corrupt.pem');
  const current = await github.addAppKey();
  writeFileSync(keyFile, current.privateKey);
  const broker = await startInstance(keyFile);
  expect(await exchange(broker, 'acme/billing')).toMatchObject({ status: 200 });
  writeFileSync(keyFile, '-----BEGIN PRIVATE KEY-----\nbm90IGEga2V5\n-----END PRIVATE KEY-----\n');
  const verdict = await reload(broker);
  expect(verdict).toMatchObject({ msg: 'config reload refused; the running config stays in force' });
  expect(JSON.stringify(verdict.errors)).toContain(
    'github_app.private_key_env: KEYHOLE_GITHUB_APP_KEY is not a readable private key',
  );
  expect(await exchange(broker, 'acme/billing')).toMatchObject({ status: 200 });
});
