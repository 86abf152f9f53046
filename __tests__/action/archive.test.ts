/** Archive mode's packer: a valid tgz, cut into parts, the same bytes for the same tree. */
import { mkdirSync, mkdtempSync, readFileSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { createHash } from 'node:crypto';
import { gunzipSync } from 'node:zlib';
import { extract } from 'tar-stream';
import { packArchive, shouldArchive } from '../../src/action/archive.js';
import { collectFiles } from '../../src/action/files.js';

const dirs: string[] = [];
const tempDir = () => {
  dirs.push(mkdtempSync(path.join(tmpdir(), 'keyhole-archive-test-')));
  return dirs.at(-1)!;
};
afterAll(() => dirs.forEach((dir) => rmSync(dir, { recursive: true, force: true })));

const noise = (seed: string) =>
  Array.from({ length: 64 }, (_, i) => createHash('sha256').update(`${seed}/${i}`).digest('base64')).join(
    '\n',
  );

function tree(): string {
  const root = tempDir();
  mkdirSync(path.join(root, 'src'));
  // Incompressible pages: deflate then ends a block every few kilobytes, as in a real tree.
  for (let i = 0; i < 40; i++) writeFileSync(path.join(root, 'src', `page-${i}.txt`), noise(`page ${i}`));
  writeFileSync(path.join(root, 'index.html'), '<h1>hi</h1>');
  symlinkSync('index.html', path.join(root, 'home.html'));
  return root;
}

async function entriesOf(parts: string[]): Promise<Map<string, { type: string; body: string }>> {
  const tar = gunzipSync(Buffer.concat(parts.map((p) => readFileSync(p))));
  const found = new Map<string, { type: string; body: string }>();
  const reader = extract();
  const done = new Promise<void>((resolve, reject) => {
    reader.on('entry', (header, stream, next) => {
      const chunks: Buffer[] = [];
      stream.on('data', (c: Buffer) => chunks.push(c));
      stream.on('end', () => {
        found.set(header.name, {
          type: header.type ?? 'file',
          body: header.type === 'symlink' ? header.linkname! : Buffer.concat(chunks).toString(),
        });
        next();
      });
    });
    reader.on('finish', resolve);
    reader.on('error', reject);
  });
  reader.end(tar);
  await done;
  return found;
}

test('auto archives only above 15,000 files; tgz always; off never', () => {
  expect(shouldArchive('auto', 15_000)).toBe(false);
  expect(shouldArchive('auto', 15_001)).toBe(true);
  expect(shouldArchive('tgz', 1)).toBe(true);
  expect(shouldArchive('off', 50_000)).toBe(false);
});

test('the parts concatenate to a tgz of every file and link, cut at the part size', async () => {
  const root = tree();
  const files = await collectFiles(root, { prebuilt: false, hash: () => false });
  const archive = await packArchive(files, tempDir(), 1000);
  try {
    expect(archive.parts.length).toBeGreaterThan(1);
    archive.parts.forEach((part, i) => {
      expect(part.file).toBe(`.vercel/source.tgz.part${i + 1}`);
      expect(part.sha).toMatch(/^[0-9a-f]{40}$/);
      if (i < archive.parts.length - 1) expect(part.size).toBe(1000);
    });
    const entries = await entriesOf(archive.parts.map((p) => p.absolute));
    expect(entries.size).toBe(42);
    expect(entries.get('src/page-7.txt')?.body).toBe(noise('page 7'));
    expect(entries.get('home.html')).toEqual({ type: 'symlink', body: 'index.html' });
  } finally {
    await archive.dispose();
  }
});

test('an unchanged tree packs to the same parts; one changed file changes only the parts after it', async () => {
  const root = tree();
  const pack = async () => {
    const files = await collectFiles(root, { prebuilt: false, hash: () => false });
    const archive = await packArchive(files, tempDir(), 1000);
    await archive.dispose();
    return archive.parts.map((p) => p.sha);
  };
  const first = await pack();
  expect(await pack()).toEqual(first);
  // page-9 is packed last (names sort as strings): the parts before its deflate block stay the same.
  writeFileSync(path.join(root, 'src', 'page-9.txt'), noise('changed'));
  const changed = await pack();
  expect(changed).not.toEqual(first);
  const same = changed.filter((sha, i) => sha === first[i]).length;
  expect(same).toBeGreaterThan(first.length / 2);
  expect(changed.at(-1)).not.toBe(first.at(-1));
});

test('a file that grows while it is packed fails the deploy instead of corrupting the archive', async () => {
  const root = tree();
  const files = await collectFiles(root, { prebuilt: false, hash: () => false });
  writeFileSync(path.join(root, 'index.html'), '<h1>much longer than before</h1>');
  await expect(packArchive(files, tempDir(), 1000)).rejects.toThrow(/index.html changed while it was packed/);
});
