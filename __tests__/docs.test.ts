/** The README and guides: every relative link resolves, and the inputs table matches action.yml. */
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { parse } from 'yaml';
import { REPO_ROOT } from '../src/local/runner.js';

const documents = [
  'README.md',
  ...readdirSync(path.join(REPO_ROOT, 'docs'))
    .filter((f) => f.endsWith('.md'))
    .map((f) => `docs/${f}`),
];

/** GitHub's heading anchors: lower-case, punctuation dropped, spaces to hyphens. */
const anchors = (markdown: string) =>
  new Set(
    [...markdown.matchAll(/^#+ (.+)$/gm)].map((m) =>
      m[1]!
        .toLowerCase()
        .replace(/[^\w\- ]/g, '')
        .replace(/ /g, '-'),
    ),
  );

test.each(documents)('every relative link in %s resolves', (document) => {
  const text = readFileSync(path.join(REPO_ROOT, document), 'utf8');
  const links = [...text.matchAll(/\]\(([^)\s]+)\)/g)]
    .map((m) => m[1]!)
    .filter((l) => !/^(https?:|mailto:)/.test(l));
  for (const link of links) {
    const [file, anchor] = link.split('#') as [string, string | undefined];
    const target = file ? path.join(REPO_ROOT, path.dirname(document), file) : path.join(REPO_ROOT, document);
    expect({ link, exists: existsSync(target) }).toEqual({ link, exists: true });
    if (anchor && target.endsWith('.md')) {
      expect({ link, anchor: anchors(readFileSync(target, 'utf8')).has(anchor) }).toEqual({
        link,
        anchor: true,
      });
    }
  }
});

test('the README documents every input and output of action.yml', () => {
  const readme = readFileSync(path.join(REPO_ROOT, 'README.md'), 'utf8');
  const action = parse(readFileSync(path.join(REPO_ROOT, 'action.yml'), 'utf8')) as {
    inputs: object;
    outputs: object;
  };
  for (const name of [...Object.keys(action.inputs), ...Object.keys(action.outputs)])
    expect(readme).toMatch(new RegExp(`\\| \`${name}\` +\\|`));
});

test.each(['tasks', 'cli'])('every row of the README’s %s table names a test that exists', (table) => {
  const readme = readFileSync(path.join(REPO_ROOT, 'README.md'), 'utf8');
  const text =
    new RegExp(`<!-- ${table}:begin[^>]*-->([\\s\\S]*?)<!-- ${table}:end -->`).exec(readme)?.[1] ?? '';
  const rows = text
    .split('\n')
    .filter((line) => /^\| [^-]/.test(line))
    .slice(1);
  expect(rows.length).toBeGreaterThan(5);
  for (const row of rows) {
    const proofs = [...row.matchAll(/`(__tests__\/[^`]+\.test\.ts)` › "([^"]+)"/g)];
    expect({ row, proofs: proofs.length > 0 }).toEqual({ row, proofs: true });
    for (const [, file, name] of proofs) {
      const source = readFileSync(path.join(REPO_ROOT, file!), 'utf8');
      // The name as written in the test's source: quoted with ', " or `.
      const found = ["'", '"', '`'].some((q) => source.includes(`${q}${name!}${q}`));
      expect({ file, name, found }).toEqual({ file, name, found: true });
    }
  }
});
