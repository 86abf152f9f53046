// Runs a TypeScript script of this repository on Node 24 (type stripping + the .js→.ts resolve hook),
// re-running under the node@24 package when the current node is older (scripts/node24.mjs).
import { fileURLToPath } from 'node:url';
import { runOnNode24 } from './node24.mjs';

const [script, ...args] = process.argv.slice(2);
const hooks = fileURLToPath(new URL('./ts-hooks.mjs', import.meta.url));
runOnNode24(['--disable-warning=ExperimentalWarning', '--import', hooks, script, ...args]);
