/** Hashing on worker threads (src/action/hash-pool.ts via collectFiles): the same digests and the same checks as the main thread. */
import { createHash, randomBytes } from 'node:crypto';
import {
  chmodSync,
  closeSync,
  mkdirSync,
  openSync,
  mkdtempSync,
  readdirSync,
  renameSync,
  rmSync,
  symlinkSync,
  writeFileSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { collectFiles, hashOnWorkers } from '../../src/action/files.js';
import { createHashPool } from '../../src/action/hash-pool.js';

const dirs: string[] = [];
afterAll(() => dirs.forEach((dir) => rmSync(dir, { recursive: true, force: true })));

function tree(): { root: string; contents: Map<string, Buffer> } {
  const root = mkdtempSync(path.join(tmpdir(), 'keyhole-hash-test-'));
  dirs.push(root);
  const contents = new Map<string, Buffer>();
  const put = (file: string, bytes: Buffer) => {
    mkdirSync(path.dirname(path.join(root, file)), { recursive: true });
    writeFileSync(path.join(root, file), bytes);
    contents.set(file, bytes);
  };
  for (let i = 0; i < 150; i++) put(`pages/p${i}.html`, randomBytes(i * 97));
  put('empty.txt', Buffer.alloc(0));
  // Past the 4 MiB read buffer: read in several chunks.
  put('big/blob.bin', randomBytes(9 * 1024 * 1024 + 13));
  put('bin/run.sh', Buffer.from('#!/bin/sh\necho hi\n'));
  chmodSync(path.join(root, 'bin/run.sh'), 0o755);
  symlinkSync('empty.txt', path.join(root, 'link.txt'));
  return { root, contents };
}

const openDescriptors = () => readdirSync('/proc/self/fd').length;
const sha1 = (bytes: Buffer) => createHash('sha1').update(bytes).digest('hex');

test('workers give every file the digest the main thread gives it, links hashed as their text', async () => {
  const { root, contents } = tree();
  const progress: number[] = [];
  const onWorkers = await collectFiles(root, {
    prebuilt: false,
    hashWorkers: 2,
    onProgress: (done) => progress.push(done),
  });
  const onMain = await collectFiles(root, { prebuilt: false, hashWorkers: 0 });
  expect(onWorkers).toEqual(onMain);
  for (const f of onWorkers) {
    if (f.isSymlink) expect(f.sha).toBe(sha1(Buffer.from('empty.txt')));
    else expect(f.sha).toBe(sha1(contents.get(f.file)!));
  }
  expect(progress.at(-1)).toBe(onWorkers.length);
  // The same with the workers hashing every file (in collectFiles the main thread takes a share).
  const listed = await collectFiles(root, { prebuilt: false, hash: () => false });
  await hashOnWorkers(listed, 2, { mainThread: false });
  expect(listed).toEqual(onMain);
});

test('a file swapped for another after the listing is refused, as on the main thread, and no descriptor is left open', async () => {
  const { root } = tree();
  const before = openDescriptors();
  const swap = () => {
    // Same name, another inode: what a job racing the walk could do.
    writeFileSync(path.join(root, 'pages/other'), 'planted');
    renameSync(path.join(root, 'pages/other'), path.join(root, 'pages/p100.html'));
    return true;
  };
  await expect(collectFiles(root, { prebuilt: false, hashWorkers: 2, hash: swap })).rejects.toThrow(
    /pages\/p100\.html changed between listing and reading/,
  );
  expect(openDescriptors()).toBe(before);
  const listed = await collectFiles(root, { prebuilt: false, hash: () => false });
  swap();
  await expect(hashOnWorkers(listed, 2, { mainThread: false })).rejects.toThrow(
    /pages\/p100\.html changed between listing and reading/,
  );
  expect(openDescriptors()).toBe(before);
});

test('a file turned into a link after the listing is not followed', async () => {
  const { root } = tree();
  const toLink = () => {
    rmSync(path.join(root, 'pages/p7.html'));
    symlinkSync('/etc/hostname', path.join(root, 'pages/p7.html'));
    return true;
  };
  const listed = await collectFiles(root, { prebuilt: false, hash: () => false });
  toLink();
  await expect(hashOnWorkers(listed, 2, { mainThread: false })).rejects.toThrow(
    /pages\/p7\.html became a symbolic link after it was listed/,
  );
});

test('the pool hashes open descriptors on its workers, in order, and names why a descriptor cannot be read', async () => {
  const { root, contents } = tree();
  const names = ['big/blob.bin', 'empty.txt', 'pages/p3.html'];
  const pool = createHashPool(2);
  try {
    await pool.online;
    const open = () => names.map((name) => openSync(path.join(root, name), 'r'));
    const batches = [open(), open(), open().reverse()];
    // More batches than workers at once: each answer still belongs to its own batch.
    const results = await Promise.all(batches.map((fds) => pool.hash(fds)));
    const digests = names.map((name) => sha1(contents.get(name)!));
    expect(results).toEqual([digests, digests, [...digests].reverse()]);
    // A descriptor is read from where it stands: the batches read these to their end.
    expect(await pool.hash([batches[0]![0]!])).toEqual([sha1(Buffer.alloc(0))]);
    batches.flat().forEach((fd) => closeSync(fd));
    const directory = openSync(root, 'r');
    expect(await pool.hash([directory])).toEqual([{ error: 'EISDIR' }]);
    closeSync(directory);
  } finally {
    await pool.close();
  }
});
