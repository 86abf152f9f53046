/** The action's batch planning and framing, read back with the broker's own frame reader. */
import { createHash } from 'node:crypto';
import { lstatSync, mkdtempSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { batchCapabilityOf, encodeBatch, planBatches } from '../../src/action/batch.js';
import type { DeployFile } from '../../src/action/files.js';
import { FrameReader, holdFrame, retainedBytes } from '../../src/broker/gateway/frames.js';
import { BATCH_FRAME_HEADER_BYTES, BATCH_PATH, type BatchCapability } from '../../src/shared/wire.js';

const capability: BatchCapability = { path: BATCH_PATH, max_files: 3, max_file_bytes: 100, max_bytes: 1000 };
const fake = (name: string, size: number): DeployFile => ({
  file: name,
  absolute: `/nowhere/${name}`,
  sha: 'a'.repeat(40),
  size,
  mode: 33188,
  isSymlink: false,
  identity: { dev: 0n, ino: 0n },
});

describe('planBatches', () => {
  test('groups small files up to max_files and the byte target; larger files go singly', () => {
    const files = [
      fake('a', 10),
      fake('big', 101),
      fake('b', 10),
      fake('c', 10),
      fake('d', 10),
      fake('e', 0),
    ];
    const { batches, singles } = planBatches(files, capability);
    expect(singles.map((f) => f.file)).toEqual(['big']);
    expect(batches.map((b) => b.map((f) => f.file))).toEqual([
      ['a', 'b', 'c'],
      ['d', 'e'],
    ]);
  });

  test('a batch never exceeds the byte target, headers included', () => {
    const files = Array.from({ length: 5 }, (_, i) => fake(`f${i}`, 56));
    // 44 + 56 = 100 bytes a frame: two fit in 250, the third would not.
    const { batches } = planBatches(files, { ...capability, max_files: 100 }, 250);
    expect(batches.map((b) => b.length)).toEqual([2, 2, 1]);
  });
});

describe('encodeBatch', () => {
  let dir: string;
  beforeAll(() => {
    dir = mkdtempSync(path.join(tmpdir(), 'keyhole-batch-'));
  });
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  const identityOf = (absolute: string) => {
    const { dev, ino } = lstatSync(absolute, { bigint: true });
    return { dev, ino };
  };
  const real = (name: string, content: string): DeployFile => {
    const absolute = path.join(dir, name);
    writeFileSync(absolute, content);
    return {
      file: name,
      absolute,
      sha: createHash('sha1').update(content).digest('hex'),
      size: Buffer.byteLength(content),
      mode: 33188,
      isSymlink: false,
      identity: identityOf(absolute),
    };
  };

  const nodeSha1 = (pieces: readonly Uint8Array[]) => {
    const hash = createHash('sha1');
    for (const piece of pieces) hash.update(piece);
    return hash.digest('hex');
  };
  test.each([
    ['WebCrypto', undefined],
    ["Node's SHA-1 over the pieces", nodeSha1],
  ])(
    'frames read back with the broker reader (%s): digests, sizes and bytes, symlinks as their target',
    async (_name, sha1Hex) => {
      const files = [real('one.txt', 'first'), real('empty.txt', ''), real('two.txt', 'second file')];
      rmSync(path.join(dir, 'link'), { force: true });
      symlinkSync('one.txt', path.join(dir, 'link'));
      files.push({
        file: 'link',
        absolute: path.join(dir, 'link'),
        sha: createHash('sha1').update('one.txt').digest('hex'),
        size: 7,
        mode: 41471,
        isSymlink: true,
        identity: identityOf(path.join(dir, 'link')),
      });
      const body = encodeBatch(files);
      // Delivered in awkward chunks, as a socket might.
      const chunks = async function* () {
        for (let i = 0; i < body.length; i += 7) yield body.subarray(i, i + 7);
      };
      const reader = new FrameReader(chunks(), sha1Hex);
      for (const [index, file] of files.entries()) {
        const header = await reader.readHeader(index, 100);
        expect(header).toEqual({ index, sha: file.sha, size: file.size });
        const pieces = await reader.readFile(header);
        expect(Buffer.concat(pieces).toString()).toBe(
          file.isSymlink ? 'one.txt' : ['first', '', 'second file'][index],
        );
      }
      expect(await reader.atEnd()).toBe(true);
    },
  );

  test('a file that changed size since it was hashed is refused before sending', async () => {
    const file = real('changing.txt', 'short');
    writeFileSync(file.absolute, 'much longer now');
    expect(() => encodeBatch([file])).toThrow(/changing.txt changed size while deploying \(5 → 15 bytes\)/);
  });
});

describe('batchCapabilityOf', () => {
  test.each([
    ['an older broker (no field)', {}, undefined],
    ['the announced capability', { upload_batch: capability }, capability],
    [
      'another path (the credential goes nowhere else)',
      { upload_batch: { ...capability, path: '/elsewhere' } },
      undefined,
    ],
    [
      'an absolute URL',
      { upload_batch: { ...capability, path: 'https://evil.example/v1/files/batch' } },
      undefined,
    ],
    ['a zero cap', { upload_batch: { ...capability, max_files: 0 } }, undefined],
    ['a non-number cap', { upload_batch: { ...capability, max_bytes: '1000' } }, undefined],
  ])('%s', (_name, answer, expected) => {
    expect(batchCapabilityOf(answer as { upload_batch?: unknown })).toEqual(expected);
  });
});

test('a frame trickled in one-byte reads is read whole into one buffer, not a view per read', async () => {
  const content = Buffer.alloc(1000, 7);
  const header = Buffer.alloc(BATCH_FRAME_HEADER_BYTES);
  header.write(createHash('sha1').update(content).digest('hex'), 'latin1');
  header.writeUInt32BE(content.length, 40);
  const body = Buffer.concat([header, content]);
  const bytes = async function* () {
    for (let i = 0; i < body.length; i++) yield body.subarray(i, i + 1);
  };
  const reader = new FrameReader(bytes());
  const frame = await reader.readHeader(0, 2000);
  const pieces = await reader.readFile(frame);
  expect(pieces).toHaveLength(1);
  expect(Buffer.from(pieces[0]!).equals(content)).toBe(true);
  expect(await reader.atEnd()).toBe(true);
});

describe('holdFrame: what the broker keeps of a frame, and what the budget counts', () => {
  const read = (size: number) => new Uint8Array(size); // one socket read: its own buffer

  test('a file spanning reads is kept as views, and the budget counts the whole reads it pins', () => {
    const [a, b] = [read(64 * 1024), read(64 * 1024)];
    const pieces = [a.subarray(10 * 1024), b.subarray(0, 50 * 1024)];
    const kept = holdFrame(pieces, 104 * 1024);
    expect(kept.pieces).toBe(pieces);
    expect(kept.held).toBe(128 * 1024);
  });

  test('a small file in a large read is copied out, so it neither pins the read nor is under-counted', () => {
    const shared = read(64 * 1024);
    const kept = holdFrame([shared.subarray(100, 110)], 10);
    expect(kept.held).toBe(10);
    expect(kept.pieces).toHaveLength(1);
    expect(kept.pieces[0]!.buffer.byteLength).toBe(10);
    expect(kept.pieces[0]!.buffer).not.toBe(shared.buffer);
  });

  test('views of one read are counted once; an empty file holds nothing', () => {
    const shared = read(1000);
    expect(retainedBytes([shared.subarray(0, 500), shared.subarray(500)])).toBe(1000);
    expect(holdFrame([], 0)).toEqual({ pieces: [], held: 0 });
  });
});
