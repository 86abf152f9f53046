/**
 * `npm run demo`: the whole flow on loopback, no accounts, no network. A local GitHub OIDC issuer,
 * Vercel Labs' `emulate` as Vercel, the bundled broker with examples/broker.yaml, and the bundled
 * action run as a runner runs it; then a modified workflow tries to misuse it and is refused.
 */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { createEmulator, type Emulator } from 'emulate';
import { parseDocument } from 'yaml';
import { AUDIENCE } from '../src/local/config.js';
import { startGitHubIssuer, type GitHubIssuer, type JobClaims } from '../src/local/github-oidc.js';
import {
  REPO_ROOT,
  runActionBundle,
  startBrokerProcess,
  type ActionRun,
  type RunningBroker,
} from '../src/local/runner.js';
import { createStyle, formatAuditLine, summaryAsText, wrap } from '../src/local/demo-output.js';
import { startUploadGate, type UploadGate } from '../src/local/upload-gate.js';

const { bold, green, red, dim } = createStyle(process.stdout, process.env);
/** Terminal width to wrap at; none when the output is a file or a pipe. */
const width = process.stdout.isTTY ? Math.max(60, process.stdout.columns || 100) : undefined;
const step = (n: number, text: string) => console.log(`\n${bold(`${n}.`)} ${bold(text)}`);
const started = Date.now();

const EMULATE_TOKEN = 'emulate_vercel_token_held_by_the_broker_only';
const REPO = { repository: 'acme/marketing', repository_id: '123456789', repository_owner_id: '987654' };
const PRODUCTION_WORKFLOW = 'acme/marketing/.github/workflows/production.yml@refs/heads/main';

/** The running local world: the issuer, emulated Vercel with its two projects, and the broker. */
interface World {
  issuer: GitHubIssuer;
  vercel: Emulator;
  /** In front of emulate: asks for every file's bytes, as Vercel does (emulate never does). */
  gate: UploadGate;
  auth: { authorization: string };
  marketing: { id: string; accountId: string };
  billing: { id: string; accountId: string };
  broker: RunningBroker;
  dir: string;
}

/** Step 1: the issuer, `emulate` as Vercel, and the bundled broker with examples/broker.yaml. */
async function startWorld(): Promise<World> {
  step(1, 'Starting the local world');
  const issuer = await startGitHubIssuer();
  console.log(`   GitHub OIDC issuer      ${issuer.issuer}`);
  const vercel = await createEmulator({
    service: 'vercel',
    port: 0,
    seed: {
      tokens: { [EMULATE_TOKEN]: { login: 'owner' } },
      vercel: {
        users: [{ username: 'owner', email: 'owner@acme.example' }],
        teams: [{ slug: 'acme', name: 'Acme' }],
        projects: [
          { name: 'marketing-site', team: 'acme' },
          { name: 'billing', team: 'acme' },
        ],
      },
    },
  });
  const gate = await startUploadGate(vercel.url);
  console.log(`   Vercel (emulate)        ${gate.url}  ${dim('asks for missing files, as Vercel does')}`);
  const auth = { authorization: `Bearer ${EMULATE_TOKEN}` };
  const project = async (name: string) =>
    (await (await fetch(`${vercel.url}/v9/projects/${name}?slug=acme`, { headers: auth })).json()) as {
      id: string;
      accountId: string;
    };
  const marketing = await project('marketing-site');
  const billing = await project('billing');

  // examples/broker.yaml, pointed at the local world: same rules, local issuer, emulated Vercel.
  const doc = parseDocument(await readFile(path.join(REPO_ROOT, 'examples', 'broker.yaml'), 'utf8'));
  doc.set('audience', AUDIENCE);
  doc.set('issuer', issuer.issuer);
  doc.set('jwks_url', issuer.jwksUrl);
  doc.set('vercel_api_url', gate.url);
  doc.setIn(['projects', 'marketing-site', 'team_id'], marketing.accountId);
  doc.setIn(['projects', 'marketing-site', 'project_id'], marketing.id);
  doc.setIn(['projects', 'billing', 'team_id'], billing.accountId);
  doc.setIn(['projects', 'billing', 'project_id'], billing.id);
  const dir = mkdtempSync(path.join(tmpdir(), 'keyhole-demo-'));
  const configPath = path.join(dir, 'broker.yaml');
  writeFileSync(configPath, doc.toString());
  const broker = await startBrokerProcess({
    configPath,
    env: {
      VERCEL_TOKEN_MARKETING: EMULATE_TOKEN,
      VERCEL_TOKEN_BILLING: EMULATE_TOKEN,
      KEYHOLE_SIGNING_KEY: `demo:${Buffer.from(crypto.getRandomValues(new Uint8Array(32))).toString('base64url')}`,
    },
  });
  console.log(`   Keyhole broker (bundle) ${broker.url}  ${dim('config: examples/broker.yaml')}`);
  return { issuer, vercel, gate, auth, marketing, billing, broker, dir };
}

/** Runs the bundled action as a job of acme/marketing with `claims`, deploying examples/site. */
const job = (world: World, claims: JobClaims, inputs: Record<string, string>): Promise<ActionRun> => {
  world.issuer.setJob({ ...REPO, ...claims });
  return runActionBundle({
    workspace: REPO_ROOT,
    oidc: world.issuer,
    inputs: { 'broker-url': world.broker.url, audience: AUDIENCE, path: 'examples/site', ...inputs },
  });
};

/** The step's error annotation (its first `lines` lines), wrapped under the ✓/✗ line it explains. */
const failure = (run: ActionRun, lines = Infinity) =>
  (run.stdout.match(/^::error::(.*)$/m)?.[1] ?? run.stderr)
    .split('%0A')
    .slice(0, lines)
    .map((line) => wrap(line, '      ', width))
    .join('\n');

let ok = true;
const expect = (condition: boolean, text: string) => {
  ok &&= condition;
  console.log(`   ${condition ? green('✓') : red('✗')} ${text}`);
};

/** Step 2: the workflow on main deploys; only what .vercelignore lets through reaches Vercel. */
async function deployFromMain(world: World): Promise<ActionRun> {
  step(2, 'The workflow on main deploys examples/site to preview (bundled action, as a runner runs it)');
  const deploy = await job(
    world,
    { ref: 'refs/heads/main', event_name: 'push' },
    { project: 'marketing-site' },
  );
  for (const line of deploy.stdout.split('\n')) {
    if (/^(Keyhole:|Hashing \d+\/\d+ files$|Uploading| {2}uploaded|Deployment |Ready:)/.test(line))
      console.log(dim(`   │ ${line}`));
  }
  if (deploy.code !== 0) console.log(red(failure(deploy)));
  expect(
    deploy.code === 0 && deploy.outputs['ready-state'] === 'READY',
    `deployment-url = ${bold(deploy.outputs['deployment-url'] ?? '(none)')}`,
  );
  const listing = JSON.stringify(
    await (
      await fetch(
        `${world.vercel.url}/v6/deployments/${deploy.outputs['deployment-id']}/files?teamId=${world.marketing.accountId}`,
        { headers: world.auth },
      )
    ).json(),
  );
  expect(
    listing.includes('index.html') && !listing.includes('NOTES.md'),
    'Vercel holds index.html and style.css; NOTES.md (in .vercelignore) never left the runner',
  );
  console.log(dim('   The job summary the action wrote ($GITHUB_STEP_SUMMARY):'));
  console.log(summaryAsText(deploy.summary, '   │ '));
  return deploy;
}

/** Step 3, part one: jobs a modified workflow runs, and a captured OIDC token replayed; returns a credential. */
async function misuseTheExchange(world: World): Promise<string> {
  step(3, 'A modified workflow tries to misuse Keyhole');
  console.log(dim('   (each attempt is what an attacker with write access to a workflow file could try)'));

  const other = await job(world, { ref: 'refs/heads/main' }, { project: 'billing' });
  expect(
    other.code !== 0 && /policy_denied/.test(other.stdout),
    `deploy another project (billing): refused\n${dim(failure(other, 1))}`,
  );

  const prod = await job(
    world,
    {
      ref: 'refs/heads/feature/x',
      environment: 'production',
      job_workflow_ref: PRODUCTION_WORKFLOW.replace('refs/heads/main', 'refs/heads/feature/x'),
    },
    { project: 'marketing-site', target: 'production' },
  );
  expect(
    prod.code !== 0 && /policy_denied/.test(prod.stdout),
    `production from a feature branch: refused\n${dim(failure(prod, 1))}`,
  );

  world.issuer.setJob({ ...REPO, ref: 'refs/heads/main' });
  const token = await world.issuer.mint(AUDIENCE);
  const exchange = () =>
    fetch(`${world.broker.url}/v1/exchange`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ token, project: 'marketing-site', target: 'preview' }),
    });
  const first = await exchange();
  const { credential } = (await first.json()) as { credential: string };
  const replay = await exchange();
  const replayError = ((await replay.json()) as { error: { code: string; message: string } }).error;
  expect(
    first.status === 200 && replay.status === 401 && replayError.code === 'token_replayed',
    `replay a captured OIDC token: refused (${replay.status} ${replayError.code})`,
  );
  return credential;
}

/** Step 3, part two: a stolen credential reaches nothing beyond its one deploy. */
async function misuseTheCredential(world: World, credential: string, deploy: ActionRun): Promise<void> {
  const steal = async (method: string, p: string) => {
    const r = await fetch(`${world.broker.url}${p}`, {
      method,
      headers: { authorization: `Bearer ${credential}` },
    });
    return {
      status: r.status,
      error: ((await r.json()) as { error?: { code: string; message: string } }).error,
    };
  };
  const env = await steal('GET', `/v10/projects/${world.marketing.id}/env`);
  expect(
    env.status === 403,
    `read env vars with the stolen credential: refused (${env.status} ${env.error?.code}: ${env.error?.message})`,
  );
  const del = await steal('DELETE', `/v13/deployments/${deploy.outputs['deployment-id']}`);
  expect(del.status === 403, `delete the deployment: refused (${del.status} ${del.error?.code})`);
  const foreign = await steal('GET', `/v9/projects/${world.billing.id}`);
  expect(
    foreign.status === 404,
    `look at another project: ${foreign.status} ${foreign.error?.code}, indistinguishable from one that does not exist`,
  );
}

async function main(): Promise<number> {
  console.log(
    bold(
      'Keyhole demo: deploy one pinned Vercel project from "GitHub Actions" with no Vercel token in GitHub',
    ),
  );
  const world = await startWorld();
  try {
    const deploy = await deployFromMain(world);
    await misuseTheCredential(world, await misuseTheExchange(world), deploy);

    step(4, 'What the broker wrote to its audit log');
    for (const line of world.broker.auditLines().slice(-6)) console.log(dim(formatAuditLine(line, width)));
    const everything = world.broker.stdout() + world.broker.stderr() + deploy.stdout + deploy.stderr;
    expect(!everything.includes(EMULATE_TOKEN), 'the upstream Vercel token appears in no log or output');
  } finally {
    const code = await world.broker.stop();
    await world.gate.close();
    await world.vercel.close();
    await world.issuer.close();
    rmSync(world.dir, { recursive: true, force: true });
    console.log(
      `\n${dim(`Everything stopped (broker exit code ${code}). ${((Date.now() - started) / 1000).toFixed(1)} s.`)}`,
    );
  }
  console.log(
    ok
      ? green(bold('Demo complete: one project deployed, every misuse refused.'))
      : red(bold('Demo failed: see the ✗ lines above.')),
  );
  return ok ? 0 : 1;
}

process.exitCode = await main();
