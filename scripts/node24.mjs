// Node 24, the runtime action.yml declares, for every script and test run of this repository: the
// current node when it is new enough, else the node@24 package from the npm registry, installed once
// into a cache folder (KEYHOLE_NODE24_DIR, default ~/.cache/keyhole-node24). scripts/run-ts.mjs,
// scripts/test.mjs and .ci/run all come through here, so there is one way to get it.
import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, renameSync, rmSync } from 'node:fs';
import { homedir, tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const major = Number(process.versions.node.split('.')[0]);

/** The node ≥ 24 binary to run; installs node@24 into the cache folder on first use. */
export function node24() {
  if (major >= 24) return process.execPath;
  const dir = process.env.KEYHOLE_NODE24_DIR || path.join(homedir() || tmpdir(), '.cache', 'keyhole-node24');
  const bin = path.join(dir, 'node_modules', '.bin', 'node');
  if (!existsSync(bin)) {
    console.error(
      `Node ${process.versions.node} is older than 24: installing the node@24 package from the npm registry into ${dir} (once).`,
    );
    // Installed beside the cache folder and renamed into place, so a run cut short (or a second
    // run at the same time) never leaves a half-installed node behind.
    const staging = `${dir}.${process.pid}.partial`;
    mkdirSync(staging, { recursive: true });
    const npm = spawnSync(
      'npm',
      ['install', '--prefix', staging, '--no-save', '--no-audit', '--no-fund', '--loglevel=error', 'node@24'],
      { stdio: ['ignore', 'inherit', 'inherit'] },
    );
    if (npm.status !== 0 || !existsSync(path.join(staging, 'node_modules', '.bin', 'node'))) {
      rmSync(staging, { recursive: true, force: true });
      console.error(
        `Could not install node@24 (npm exited ${npm.status}). Install Node 24 yourself and put it first on PATH (README: "Node 24"), or run: npm install --prefix ${dir} node@24`,
      );
      process.exit(1);
    }
    try {
      renameSync(staging, dir); // replaces a missing or empty folder
    } catch {
      if (existsSync(bin)) {
        rmSync(staging, { recursive: true, force: true }); // another run installed it first: use theirs
      } else {
        rmSync(dir, { recursive: true, force: true }); // a folder without node in it: replace it
        renameSync(staging, dir);
      }
    }
  }
  console.error(`Node ${process.versions.node} is older than 24; running under ${bin}.`);
  return bin;
}

/**
 * Runs `node <args>` on Node 24 and exits with its status. Its folder goes first on PATH, so what
 * the run starts by name (`node`, the vercel CLI's `#!/usr/bin/env node`) is Node 24 too.
 */
export function runOnNode24(args) {
  const node = node24();
  const env = { ...process.env, PATH: `${path.dirname(node)}${path.delimiter}${process.env.PATH ?? ''}` };
  const result = spawnSync(node, args, { stdio: 'inherit', env });
  if (result.error) throw result.error;
  process.exit(result.status ?? (result.signal ? 1 : 0));
}

// `node scripts/node24.mjs`: prints the folder holding Node 24's `node`, for shell scripts (.ci/run).
if (process.argv[1] && path.resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  console.log(path.dirname(node24()));
}
