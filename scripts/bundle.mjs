// Bundles with ncc into self-contained folders: dist/action and dist/broker (the broker process),
// deploy/vercel/lib (the broker as a Vercel Function; deploy/vercel/api/broker.js re-exports it).
import { execFileSync } from 'node:child_process';
import { mkdirSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import path from 'node:path';
import { transformSync } from 'esbuild';

const ncc = 'node_modules/@vercel/ncc/dist/ncc/cli.js';
const MINIFY = ['--minify', '--quiet', '--target', 'es2023'];

await bundleAction('src/action/index.ts', 'dist/action');
for (const [entry, out] of [
  ['src/broker/host/node/index.ts', 'dist/broker'],
  ['src/broker/host/node/vercel.ts', 'deploy/vercel/lib'],
]) {
  rmSync(out, { recursive: true, force: true });
  execFileSync(process.execPath, [ncc, 'build', entry, '-o', out, '--license', 'licenses.txt', ...MINIFY], {
    stdio: 'inherit',
  });
  minifyChunks(out);
}

/**
 * The action as CommonJS, through ncc's API (its CLI makes ESM of a `"type": "module"` package):
 * Node starts an ES module entry about 50 ms later than a CommonJS one, and the action's start
 * (process start → the OIDC token request) is a benchmark target (docs/benchmarks.md).
 */
async function bundleAction(entry, out) {
  const build = createRequire(import.meta.url)('@vercel/ncc');
  const { code, assets } = await build(path.resolve(entry), {
    esm: false,
    minify: true,
    quiet: true,
    target: 'es2023',
    license: 'licenses.txt',
    cache: false,
  });
  rmSync(out, { recursive: true, force: true });
  mkdirSync(out, { recursive: true });
  writeFileSync(path.join(out, 'index.js'), code);
  for (const [name, { source }] of Object.entries(assets)) writeFileSync(path.join(out, name), source);
  // The repository's package.json says "module"; this folder's files are CommonJS.
  writeFileSync(path.join(out, 'package.json'), '{\n  "type": "commonjs"\n}\n');
  minifyChunks(out);
}

/**
 * ncc's minify reaches index.js only; the chunks of dynamic imports (the action's start and
 * deploy code) come out as written, twice the size and slower to compile when they load.
 */
function minifyChunks(out) {
  for (const name of readdirSync(out).filter((f) => /^\d+\.index\.js$/.test(f))) {
    const file = path.join(out, name);
    const { code } = transformSync(readFileSync(file, 'utf8'), {
      minify: true,
      keepNames: true, // as ncc's own minify does: error and class names stay readable
      legalComments: 'none', // ncc gathers licences in licenses.txt
      target: 'es2023',
    });
    writeFileSync(file, code);
  }
}
