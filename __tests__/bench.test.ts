// The benchmark's registry: every figure has a unique `--only` name, and docs/benchmarks.md lists them all.
import { readFileSync } from 'node:fs';
import { FIGURES } from '../bench/figures.js';

test('every figure has a unique name and the docs list every --only name in run order', () => {
  const names = FIGURES.map((figure) => figure.name);
  expect(new Set(names).size).toBe(names.length);
  const docs = readFileSync(new URL('../docs/benchmarks.md', import.meta.url), 'utf8');
  const listed = /--only memory\s+# one figure: (.+)/.exec(docs)?.[1]?.split(/,\s*/);
  expect(listed).toEqual(names);
});
