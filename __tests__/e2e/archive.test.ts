/**
 * Large trees through the bundles (issue 23.1): `archive: auto` packs a 20,000-file tree into
 * `.vercel/source.tgz.partN` and it deploys READY; the fake unpacks the parts and counts the
 * entries; an unchanged tree uploads nothing again, and the job's byte budget counts the archive.
 */
import { jest } from '@jest/globals';
import { randomBytes } from 'node:crypto';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { startBundledWorld, type BundledWorld } from '../../src/local/bundled.js';

// 20,000 files are written, walked and packed per test: minutes on a loaded machine.
jest.setTimeout(600_000);

let world: BundledWorld;
const dirs: string[] = [];
beforeAll(async () => {
  // Parts are kept whole so the fake can unpack them; the budget is small enough for one test to exceed it.
  world = await startBundledWorld({
    fake: { keepBytes: 64 * 1024 ** 2 },
    config: { limits: { max_upload_bytes: 8 * 1024 ** 2 } },
  });
});
afterAll(async () => {
  await world.close();
  for (const dir of dirs) rmSync(dir, { recursive: true, force: true });
});
beforeEach(() => world.fake.clearRecord());

/** A workspace with `count` small files under site/ (100 folders, like a generated docs site). */
function tree(count: number): string {
  const workspace = mkdtempSync(path.join(tmpdir(), 'keyhole-archive-e2e-'));
  dirs.push(workspace);
  for (let d = 0; d < 100; d++) mkdirSync(path.join(workspace, 'site', `section-${d}`), { recursive: true });
  for (let i = 0; i < count; i++)
    writeFileSync(path.join(workspace, 'site', `section-${i % 100}`, `page-${i}.html`), `<p>page ${i}</p>\n`);
  return workspace;
}

let job = 0;
/** Each deploy is a job of its own: its own quotas. */
const deploy = (workspace: string, inputs: Record<string, string>) =>
  world.run({ path: 'site', ...inputs }, { workspace, claims: { run_id: String(9_100_000 + job++) } });

const creates = () => world.fake.requests.filter((r) => r.method === 'POST' && r.path === '/v13/deployments');
const uploads = () => world.fake.requests.filter((r) => r.method === 'POST' && r.path === '/v2/files');

test('a 20,000-file tree deploys READY with archive: auto, as one tgz Vercel unpacks to 20,000 files', async () => {
  const workspace = tree(20_000);
  const run = await deploy(workspace, {});
  expect(run.outputs['deployment-url']).toBeDefined();
  expect(run.code).toBe(0);
  expect(run.stdout + run.stderr).toMatch(
    /Packed 20000 files into one tar\.gz .*20000 files, more than Vercel's 15,000/,
  );
  const deployment = [...world.fake.deployments.values()].at(-1)!;
  expect(deployment.archive).toEqual({ parts: 1, entries: 20_000 });
  // What reached Vercel lists the parts only; no create ever carried the 20,000 names.
  for (const create of creates()) {
    const files = (create.json as { files: { file: string }[] }).files;
    expect(files.map((f) => f.file)).toEqual(['.vercel/source.tgz.part1']);
  }
  expect(uploads()).toHaveLength(1);
  expect(uploads()[0]!.headers['x-now-digest'] ?? uploads()[0]!.headers['x-vercel-digest']).toMatch(
    /^[0-9a-f]{40}$/,
  );
});

test('archive: off sends the 20,000 names and Vercel refuses them with too_many_files', async () => {
  const workspace = tree(20_000);
  const run = await deploy(workspace, { archive: 'off' });
  expect(run.code).not.toBe(0);
  expect(run.stdout + run.stderr).toMatch(/too_many_files.*should NOT have more than 15000 items/);
});

test('redeploying: an unchanged tree uploads nothing; one changed file re-uploads one file, or the archive', async () => {
  const workspace = tree(300);
  const uploadedBytes = () => uploads().reduce((n, r) => n + r.bytes, 0);
  const measure = async (inputs: Record<string, string>) => {
    world.fake.clearRecord();
    const run = await deploy(workspace, inputs);
    expect(run.code).toBe(0);
    return { uploads: uploads().length, bytes: uploadedBytes() };
  };
  // Per-file mode: only the changed file travels again.
  await measure({ archive: 'off' });
  expect(await measure({ archive: 'off' })).toEqual({ uploads: 0, bytes: 0 });
  writeFileSync(path.join(workspace, 'site', 'section-7', 'page-7.html'), '<p>changed</p>\n');
  expect((await measure({ archive: 'off' })).uploads).toBe(1);
  // Archive mode: the same tree packs to the same part, which Vercel already has.
  const first = await measure({ archive: 'tgz' });
  expect(first.uploads).toBe(1);
  expect(await measure({ archive: 'tgz' })).toEqual({ uploads: 0, bytes: 0 });
  writeFileSync(path.join(workspace, 'site', 'section-8', 'page-8.html'), '<p>changed too</p>\n');
  const changed = await measure({ archive: 'tgz' });
  // The tree is under one 100 MiB part: the whole (compressed) archive travels again.
  expect(changed.uploads).toBe(1);
  expect(changed.bytes).toBeGreaterThan(first.bytes / 2);
});

test("the job's byte budget counts the archive: a tree over max_upload_bytes is refused", async () => {
  const workspace = mkdtempSync(path.join(tmpdir(), 'keyhole-archive-e2e-'));
  dirs.push(workspace);
  mkdirSync(path.join(workspace, 'site'));
  // Incompressible: the archive is as large as the files, 12 MiB over an 8 MiB budget.
  for (let i = 0; i < 12; i++)
    writeFileSync(path.join(workspace, 'site', `blob-${i}.bin`), randomBytes(1024 ** 2));
  const run = await deploy(workspace, { archive: 'tgz' });
  expect(run.code).not.toBe(0);
  expect(run.stdout + run.stderr).toMatch(/this broker lets a job upload 8388608/);
  // Refused at the create, before a byte of it travels.
  expect(creates()).toHaveLength(0);
  expect(uploads()).toHaveLength(0);
});
