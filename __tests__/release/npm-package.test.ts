/**
 * The npm package the release publishes, as a consumer gets it: staged by scripts/pack-broker.mjs,
 * packed by `npm pack`, installed from the tarball into an empty folder with no registry, and run
 * through `npx keyhole-broker`.
 */
import { execFile } from 'node:child_process';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import { REPO_ROOT } from '../../src/local/runner.js';

const exec = promisify(execFile);
let dir: string;
let tarball: string;
let packed: { name: string; version: string; files: { path: string }[] };

/** npm and npx with their cache inside the test folder, offline: nothing comes from a registry. */
const run = (command: 'npm' | 'npx', args: string[], cwd: string) =>
  exec(command, args, {
    cwd,
    env: {
      ...process.env,
      // The bin's `#!/usr/bin/env node` finds this test's Node 24 first, whatever else is installed.
      PATH: `${path.dirname(process.execPath)}${path.delimiter}${process.env.PATH}`,
      npm_config_cache: path.join(dir, 'cache'),
      npm_config_offline: 'true',
      npm_config_audit: 'false',
      npm_config_fund: 'false',
      npm_config_update_notifier: 'false',
      npm_config_loglevel: 'error',
    },
  });
const npm = (args: string[], cwd: string) => run('npm', args, cwd);
const npx = (...args: string[]) =>
  run('npx', ['--no', 'keyhole-broker', ...args], path.join(dir, 'consumer'));

beforeAll(async () => {
  dir = mkdtempSync(path.join(tmpdir(), 'keyhole-npm-'));
  const stage = path.join(dir, 'stage');
  await exec(process.execPath, [path.join(REPO_ROOT, 'scripts', 'pack-broker.mjs'), stage], {
    env: { ...process.env, GITHUB_REPOSITORY: 'acme/keyhole' },
  });
  const { stdout } = await npm(['pack', '--json', '--pack-destination', dir], stage);
  [packed] = JSON.parse(stdout) as (typeof packed)[];
  tarball = path.join(dir, (packed as unknown as { filename: string }).filename);
  mkdirSync(path.join(dir, 'consumer'));
  await npm(['install', tarball], path.join(dir, 'consumer'));
});

afterAll(() => rmSync(dir, { recursive: true, force: true }));

test('the package holds the broker bundle and its manifest, not the action or the sources', () => {
  const repo = JSON.parse(readFileSync(path.join(REPO_ROOT, 'package.json'), 'utf8')) as { version: string };
  expect(packed).toMatchObject({ name: 'keyhole-broker', version: repo.version });
  const files = packed.files.map((f) => f.path).sort();
  expect(files).toEqual(
    expect.arrayContaining(['LICENSE', 'README.md', 'package.json', 'dist/broker/index.js']),
  );
  expect(files.filter((f) => !/^(LICENSE|README\.md|package\.json|dist\/broker\/[^/]+)$/.test(f))).toEqual(
    [],
  );
  expect(files.some((f) => f.includes('action'))).toBe(false);
});

test('its manifest has no dependencies and names the repository for npm provenance', () => {
  const installed = JSON.parse(
    readFileSync(path.join(dir, 'consumer', 'node_modules', 'keyhole-broker', 'package.json'), 'utf8'),
  ) as Record<string, unknown>;
  expect(installed.dependencies).toBeUndefined();
  expect(installed.bin).toEqual({ 'keyhole-broker': 'dist/broker/index.js' });
  expect(installed.repository).toEqual({ type: 'git', url: 'git+https://github.com/acme/keyhole.git' });
  expect(installed.private).toBeUndefined();
});

test('`npx keyhole-broker --help` works from the installed tarball', async () => {
  const { stdout } = await npm(
    ['exec', '--no', '--', 'keyhole-broker', '--help'],
    path.join(dir, 'consumer'),
  );
  expect(stdout).toMatch(/keyhole-broker serve --config <file>/);
  expect(stdout).toMatch(/keyhole-broker policy check --config <file>/);
});

test('`keyhole-broker policy check` validates the example config from the installed tarball', async () => {
  const { stdout } = await npx(
    'policy',
    'check',
    '--config',
    path.join(REPO_ROOT, 'examples', 'broker.yaml'),
  );
  expect(stdout).toMatch(/^ok: .*broker\.yaml: 2 project\(s\)/m);
});

test('`keyhole-broker policy check` from the tarball fails on an invalid config, naming the error', async () => {
  const config = path.join(dir, 'invalid.yaml');
  writeFileSync(config, 'audience: https://keyhole.example.com\nprojects: {}\nreplay_stor: memory\n');
  await expect(npx('policy', 'check', '--config', config)).rejects.toMatchObject({
    code: 1,
    stderr: expect.stringMatching(/replay_stor: unknown key/),
  });
});
