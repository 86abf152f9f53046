// Runs a TypeScript script of this repository on Node 24 (type stripping + the .js→.ts resolve hook).
// On an older Node it re-runs itself under the node@24 package from the npm registry.
import { spawnSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';

const [script, ...args] = process.argv.slice(2);
const hooks = fileURLToPath(new URL('./ts-hooks.mjs', import.meta.url));
const major = Number(process.versions.node.split('.')[0]);
const nodeArgs = ['--disable-warning=ExperimentalWarning', '--import', hooks, script, ...args];
const [command, commandArgs] =
  major >= 24 ? [process.execPath, nodeArgs] : ['npx', ['--yes', '-p', 'node@24', 'node', ...nodeArgs]];
if (major < 24)
  console.error(`Node ${process.versions.node} is older than 24; running under the node@24 package.`);
const result = spawnSync(command, commandArgs, { stdio: 'inherit' });
process.exit(result.status ?? 1);
