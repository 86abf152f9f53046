/**
 * Jest globalSetup: what every run needs before a suite starts, obtained here so that `npm test`
 * and a bare `npx jest` alike need nothing but `npm ci`. Node 24 (the runtime action.yml declares),
 * a real redis-server for the multi-instance suites, and a temp folder of the run's own, so the
 * teardown can prove every test cleaned up after itself.
 */
import { spawnSync } from 'node:child_process';
import { accessSync, constants, mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';

// Jest loads this file natively (no moduleNameMapper), so it imports nothing of this repository:
// src/local/redis.ts holds the same command for the suites and the benchmark.
export const REDIS_INSTALL_COMMAND =
  'sudo apt-get update && sudo apt-get install -y redis-server (Debian, Ubuntu; elsewhere install Redis so that redis-server is on PATH)';

const log = (line: string) => process.stderr.write(`\n[keyhole test setup] ${line}\n`);

/** The executable `name` on PATH, as the shell would find it. */
export function onPath(name: string): string | undefined {
  for (const dir of (process.env.PATH ?? '').split(path.delimiter).filter(Boolean)) {
    try {
      accessSync(path.join(dir, name), constants.X_OK);
      return path.join(dir, name);
    } catch {
      // not in this folder
    }
  }
  return undefined;
}

/**
 * redis-server, the Debian package, installed when it is missing and this run may install it (root,
 * apt-get). Otherwise the reason and the command to run go to the suites through the environment:
 * a suite that needs Redis fails with it (never skips), and the others still run.
 */
function obtainRedisServer(): void {
  if (onPath('redis-server')) return;
  const isRoot = process.getuid?.() === 0;
  if (!isRoot || !onPath('apt-get')) {
    process.env.KEYHOLE_REDIS_MISSING = `redis-server is not installed and this run cannot install it (${isRoot ? 'no apt-get' : 'not root'}). Run: ${REDIS_INSTALL_COMMAND}`;
    log(process.env.KEYHOLE_REDIS_MISSING);
    return;
  }
  log(
    'redis-server is not installed: installing the Debian package (apt-get install redis-server) for the multi-instance suites.',
  );
  // dpkg's maintainer scripts need the sbin folders, which a user's PATH may lack.
  const PATH = [process.env.PATH, '/usr/local/sbin', '/usr/sbin', '/sbin']
    .filter(Boolean)
    .join(path.delimiter);
  const env = { ...process.env, PATH, DEBIAN_FRONTEND: 'noninteractive' };
  for (const args of [
    ['update', '-qq'],
    ['install', '-y', '-qq', '--no-install-recommends', 'redis-server'],
  ]) {
    const apt = spawnSync('apt-get', args, { env, encoding: 'utf8', timeout: 600_000 });
    if (apt.status !== 0) {
      process.env.KEYHOLE_REDIS_MISSING = `redis-server could not be installed: apt-get ${args.join(' ')} exited ${apt.status ?? apt.signal}: ${(apt.stderr || apt.stdout || '').trim().split('\n').slice(-3).join(' / ')}. Run: ${REDIS_INSTALL_COMMAND}`;
      log(process.env.KEYHOLE_REDIS_MISSING);
      return;
    }
  }
  const installed = onPath('redis-server');
  if (installed) log(`redis-server installed: ${installed}`);
  else {
    process.env.KEYHOLE_REDIS_MISSING = `apt-get installed redis-server, but it is not on PATH (${process.env.PATH}); add /usr/bin to PATH, or run: ${REDIS_INSTALL_COMMAND}`;
    log(process.env.KEYHOLE_REDIS_MISSING);
  }
}

export default function globalSetup(): void {
  const major = Number(process.versions.node.split('.')[0]);
  if (major < 24)
    throw new Error(
      `The tests run on Node 24 (action.yml's runtime); this is Node ${process.versions.node}. Run \`npm test\`, which re-runs itself under Node 24.`,
    );
  obtainRedisServer();
  // os.tmpdir() follows TMPDIR, and Jest starts its workers after this: every mkdtemp of a test lands here.
  process.env.KEYHOLE_TEST_TMPDIR = mkdtempSync(path.join(tmpdir(), 'keyhole-test-run-'));
  process.env.TMPDIR = process.env.KEYHOLE_TEST_TMPDIR;
}
