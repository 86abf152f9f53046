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

/** Text files of the repository a user copies from: examples, docs, workflows (not dependencies or builds). */
function repositoryTexts(dir = REPO_ROOT): string[] {
  const skip = new Set(['node_modules', 'dist', 'lib', 'coverage', '.git', '.build', '.bench', '.vercel']);
  return readdirSync(dir, { withFileTypes: true }).flatMap((entry) => {
    const full = path.join(dir, entry.name);
    if (entry.isDirectory()) return skip.has(entry.name) ? [] : repositoryTexts(full);
    return /\.(md|ya?ml|toml|ts|mjs|json)$/.test(entry.name) ? [full] : [];
  });
}

test('every actions/setup-node in examples, docs and workflows uses the one pin', () => {
  const pins = new Map<string, string[]>();
  for (const file of repositoryTexts()) {
    for (const [, pin] of readFileSync(file, 'utf8').matchAll(
      /actions\/setup-node@([0-9a-f]{7,40}[^\n'"`]*)/g,
    )) {
      pins.set(pin!.trim(), [...(pins.get(pin!.trim()) ?? []), path.relative(REPO_ROOT, file)]);
    }
  }
  expect([...pins.entries()]).toHaveLength(1); // a failure lists each pin with its files
  expect([...pins.keys()][0]).toMatch(/^[0-9a-f]{40} # v\d+\.\d+\.\d+$/);
});

/** The wrangler the docs pin bundles this Miniflare (npm view wrangler@4.116.0 dependencies.miniflare). */
const WRANGLER = { version: '4.116.0', miniflare: '4.20260730.0' };

test('every wrangler command in the docs pins the release whose Miniflare the Worker test runs', () => {
  const pkg = JSON.parse(readFileSync(path.join(REPO_ROOT, 'package.json'), 'utf8')) as {
    devDependencies: Record<string, string>;
  };
  expect(pkg.devDependencies.miniflare).toBe(WRANGLER.miniflare);
  const files = [...documents, 'deploy/cloudflare/wrangler.toml'];
  const commands = files.flatMap((file) =>
    [...readFileSync(path.join(REPO_ROOT, file), 'utf8').matchAll(/npx wrangler(@\S+)? (dev|deploy)/g)].map(
      (m) => ({ file, pin: m[1] }),
    ),
  );
  expect(commands.length).toBeGreaterThan(0);
  for (const command of commands)
    expect(command).toEqual({ file: command.file, pin: `@${WRANGLER.version}` });
});
