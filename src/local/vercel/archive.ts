/**
 * Archive deploys as Vercel takes them: the file list names only `.vercel/source.tgz.part1…N`, every
 * part uploaded, and the parts concatenated must be a gzipped tar, whose entries are the tree.
 */
import { gunzipSync } from 'node:zlib';
import { extract } from 'tar-stream';
import type { FakeState } from './state.js';
import type { FakeDeployment } from './types.js';

/** Vercel refuses a longer file list: `too_many_files` (the CLI then suggests --archive=tgz). */
export const MAX_FILES = 15_000;

const PART = /^\.vercel\/source\.tgz\.part([0-9]+)$/;

export type ArchiveCheck =
  | { kind: 'files' }
  | { kind: 'archive'; parts: number; entries?: string[] }
  | { kind: 'refused'; message: string };

/** The entry names of a tar stream, or a reason it is not one. */
async function tarEntries(tar: Buffer): Promise<string[]> {
  const names: string[] = [];
  const reader = extract();
  const done = new Promise<void>((resolve, reject) => {
    reader.on('entry', (header, stream, next) => {
      names.push(header.name);
      stream.on('end', () => next());
      stream.resume();
    });
    reader.on('finish', resolve);
    reader.on('error', reject);
  });
  reader.end(tar);
  await done;
  return names;
}

/**
 * Decides whether a create's files are an archive and checks it. Parts must all be uploaded
 * already (the caller's missing_files check runs first). With every part's bytes kept
 * (`keepBytes`), the archive is unpacked and its entries recorded; a benchmark that keeps no
 * bytes gets the part checks only.
 */
export async function checkArchive(fake: FakeState, files: FakeDeployment['files']): Promise<ArchiveCheck> {
  const numbers = files.map((f) => PART.exec(f.file)?.[1]);
  if (!numbers.some(Boolean)) return { kind: 'files' };
  if (!numbers.every(Boolean))
    return {
      kind: 'refused',
      message: 'An archive deployment lists only its .vercel/source.tgz.partN files',
    };
  const order = numbers.map(Number);
  const sorted = [...order].sort((a, b) => a - b);
  if (sorted.some((n, i) => n !== i + 1))
    return { kind: 'refused', message: `The archive parts must be numbered 1 to ${files.length}` };
  const bySha = new Map(files.map((f, i) => [order[i]!, f.sha]));
  const blobs = sorted.map((n) => fake.blobs.get(bySha.get(n) ?? ''));
  if (blobs.some((b) => b?.data === undefined)) return { kind: 'archive', parts: files.length };
  try {
    const tar = gunzipSync(Buffer.concat(blobs.map((b) => b!.data!)));
    return { kind: 'archive', parts: files.length, entries: await tarEntries(tar) };
  } catch (error) {
    return {
      kind: 'refused',
      message: `The archive is not a valid .tgz: ${error instanceof Error ? error.message : String(error)}`,
    };
  }
}
