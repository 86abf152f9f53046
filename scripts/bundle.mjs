// Bundles with ncc into self-contained folders: dist/action and dist/broker (the broker process),
// deploy/vercel/lib (the broker as a Vercel Function; deploy/vercel/api/broker.js re-exports it).
import { execFileSync } from 'node:child_process';
import { rmSync } from 'node:fs';

const ncc = 'node_modules/@vercel/ncc/dist/ncc/cli.js';
for (const [entry, out] of [
  ['src/action/index.ts', 'dist/action'],
  ['src/broker/host/node/index.ts', 'dist/broker'],
  ['src/broker/host/node/vercel.ts', 'deploy/vercel/lib'],
]) {
  rmSync(out, { recursive: true, force: true });
  execFileSync(
    process.execPath,
    [
      ncc,
      'build',
      entry,
      '-o',
      out,
      '--license',
      'licenses.txt',
      '--minify',
      '--quiet',
      '--target',
      'es2023',
    ],
    {
      stdio: 'inherit',
    },
  );
}
