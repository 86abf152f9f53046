// Bundles the action and the broker into self-contained files under dist/ with ncc.
import { execFileSync } from 'node:child_process';
import { rmSync } from 'node:fs';

const ncc = 'node_modules/@vercel/ncc/dist/ncc/cli.js';
for (const [entry, out] of [
  ['src/action/index.ts', 'dist/action'],
  ['src/broker/index.ts', 'dist/broker'],
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
