/**
 * `npm run bench` (add `-- --quick` for the short run): every figure of docs/benchmarks.md, each
 * comparison measured side by side in this one run, medians over repetitions. Generated trees are
 * deterministic (AES-CTR keystream with a fixed key) and live under .bench/, never committed.
 * Each figure is a module under bench/figures/, registered in bench/figures.ts.
 */
import { mkdirSync, writeFileSync } from 'node:fs';
import { cpus, totalmem } from 'node:os';
import { startGitHubIssuer } from '../src/local/github-oidc.js';
import { FIGURES } from './figures.js';
import { REPS, WORK, log, quick } from './harness.js';

const option = (name: string) =>
  process.argv.includes(name) ? process.argv[process.argv.indexOf(name) + 1] : undefined;
/** `--only <name>` runs one figure (bench/figures.ts lists them). */
const only = option('--only');
const markdownOut = option('--markdown');

const selected = FIGURES.filter((figure) => only === undefined || figure.name === only);
if (selected.length === 0) {
  log(`--only ${only}: no such figure; one of: ${FIGURES.map((f) => f.name).join(', ')}`);
  process.exit(2);
}

interface Row {
  figure: string;
  measured: string;
  target: string;
  met: boolean | undefined;
}
const rows: Row[] = [];
const record = (figure: string, measured: string, target: string, met: boolean | undefined) => {
  rows.push({ figure, measured, target, met });
  log(`  → ${figure}: ${measured} (target ${target}) ${met === undefined ? '' : met ? 'MET' : 'MISSED'}`);
};

mkdirSync(WORK, { recursive: true });
const cpu = cpus()[0]?.model ?? 'unknown CPU';
log(
  `Keyhole benchmarks${quick ? ' (quick)' : ''}: ${cpus().length} × ${cpu}, ${(totalmem() / 1024 ** 3).toFixed(0)} GiB, Node ${process.version}, ${REPS} repetitions, medians`,
);
const issuer = await startGitHubIssuer();
try {
  for (const figure of selected) await figure.run({ issuer, record });
} finally {
  await issuer.close();
}
const table = [
  `Machine: ${cpus().length} × ${cpu}, ${(totalmem() / 1024 ** 3).toFixed(0)} GiB RAM, Node ${process.version}; ${quick ? 'quick run' : 'full run'}, ${REPS} repetitions, medians.`,
  '',
  '| Figure | Measured | Target | |',
  '|---|---|---|---|',
  ...rows.map(
    (r) =>
      `| ${r.figure} | ${r.measured} | ${r.target} | ${r.met === undefined ? '' : r.met ? 'met' : '**missed**'} |`,
  ),
].join('\n');
process.stdout.write(`\n${table}\n`);
if (markdownOut) writeFileSync(markdownOut, `${table}\n`);
// Context rows (met undefined) have no target: they are not counted either way.
const targets = rows.filter((r) => r.met !== undefined);
process.stdout.write(
  `\n${targets.filter((r) => r.met).length} of ${targets.length} targets met (${rows.length - targets.length} context rows)\n`,
);
