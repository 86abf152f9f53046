// `npm test [-- <jest args>]`: Jest on Node 24 (scripts/node24.mjs fetches it when the current node
// is older), with native ES modules. The real servers the suites need (redis-server) are obtained
// by Jest's globalSetup (__tests__/helpers/global-setup.ts), so `npx jest` gets them too.
import { fileURLToPath } from 'node:url';
import { runOnNode24 } from './node24.mjs';

const jest = fileURLToPath(new URL('../node_modules/jest/bin/jest.js', import.meta.url));
// Jest's ES module support is Node's VM Modules, still flagged experimental; the flag reaches
// Jest's workers through execArgv, and so does silencing its one warning per worker.
runOnNode24([
  '--experimental-vm-modules',
  '--disable-warning=ExperimentalWarning',
  jest,
  ...process.argv.slice(2),
]);
