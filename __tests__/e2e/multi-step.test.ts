/**
 * Several Keyhole steps in one job, through the bundles: docs/pull-and-promote.md's `pull: true,
 * deploy: false`, a build, then `prebuilt: true` runs as written under the default
 * `max_credentials_per_job: 1`: the later step uses the job's credential, only the first step's post
 * step (the last to run) revokes it, and a credential that was revoked meanwhile is not used.
 */
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { startBundledWorld, withoutMaskCommands, type BundledWorld } from '../../src/local/bundled.js';

let world: BundledWorld;
beforeAll(async () => {
  // The docs' example project lets builds read one public variable.
  world = await startBundledWorld({
    config: { projects: { 'marketing-site': { env_pull: ['NEXT_PUBLIC_API_URL'] } } },
  });
});
afterAll(() => world.close());

/** One job: its workspace with a site, and RUNNER_TEMP shared by its steps (the runner's per-job folder). */
function job() {
  const workspace = mkdtempSync(path.join(world.dir, 'job-'));
  const runnerTemp = path.join(workspace, '..', `${path.basename(workspace)}-temp`);
  mkdirSync(runnerTemp);
  mkdirSync(path.join(workspace, 'site'));
  writeFileSync(path.join(workspace, 'site', 'index.html'), '<h1>hello</h1>\n');
  const checkRun = String(Math.floor(Math.random() * 1e9));
  const step = (inputs: Record<string, string>) =>
    world.run(
      { path: 'site', ...inputs },
      { workspace, env: { RUNNER_TEMP: runnerTemp }, claims: { check_run_id: checkRun } },
    );
  /** `vercel build`'s output, as the build step between the two Keyhole steps leaves it. */
  const build = () => {
    const out = path.join(workspace, 'site', '.vercel', 'output');
    mkdirSync(path.join(out, 'static'), { recursive: true });
    writeFileSync(path.join(out, 'config.json'), '{"version":3}');
    writeFileSync(path.join(out, 'builds.json'), '{"target":"preview","builds":[]}');
    writeFileSync(path.join(out, 'static', 'index.html'), '<h1>built</h1>');
  };
  const cleanup = () => {
    rmSync(workspace, { recursive: true, force: true });
    rmSync(runnerTemp, { recursive: true, force: true });
  };
  return { step, build, cleanup };
}

const exchanges = () => world.broker.auditLines().filter((l) => l.event === 'exchange');

test('pull: true, deploy: false, a build, then prebuilt: true: one exchange, the second step deploys, the last post step revokes', async () => {
  const { step, build, cleanup } = job();
  const before = exchanges().length;
  const pull = await step({ pull: 'true', deploy: 'false' });
  expect(pull.code).toBe(0);
  const credential = pull.exported.VERCEL_TOKEN!;
  build();
  const deploy = await step({ prebuilt: 'true' });
  expect(deploy.stdout).toMatch(
    /Keyhole: using this job's deploy credential for marketing-site .* from an earlier Keyhole step/,
  );
  expect(deploy.code).toBe(0);
  expect(deploy.outputs['ready-state']).toBe('READY');
  expect(exchanges().length - before).toBe(1);
  expect([...world.fake.deployments.values()].at(-1)).toMatchObject({ prebuilt: true, target: null }); // Vercel's preview;
  // The credential is printed nowhere but in the mask command.
  for (const run of [pull, deploy])
    expect(withoutMaskCommands(run.stdout + run.stderr)).not.toContain(credential);

  const call = () =>
    fetch(`${world.broker.url}/v9/projects/prj_marketing`, {
      headers: { authorization: `Bearer ${credential}` },
    });
  // Post steps run in reverse: the deploy step's first; it leaves the job's credential alone.
  const deployPost = await deploy.post();
  expect(deployPost.stdout).toMatch(/no credential left to revoke/);
  expect((await call()).status).toBe(200);
  const pullPost = await pull.post();
  expect(pullPost.stdout).toMatch(/Keyhole: credential revoked\./);
  expect((await call()).status).toBe(401);
  cleanup();
});

test('a job credential revoked before the later step is not used: that step exchanges again', async () => {
  const { step, cleanup } = job();
  const pull = await step({ deploy: 'false' });
  expect(pull.code).toBe(0);
  const revoked = await fetch(`${world.broker.url}/v1/revoke`, {
    method: 'POST',
    headers: { authorization: `Bearer ${pull.exported.VERCEL_TOKEN!}` },
  });
  expect(revoked.status).toBe(200);
  const before = exchanges().length;
  const again = await step({ deploy: 'false' });
  expect(again.stdout).toMatch(/no longer valid; exchanging again/);
  expect(exchanges().length - before).toBe(1);
  cleanup();
});
