/**
 * SHA-1 of many files on worker threads, one per core: a big tree hashes on every core instead of
 * one (docs/benchmarks.md "Hashing"). The workers read only descriptors the main thread opened
 * and verified (safe-fs.ts `openVerified`: the very file listed, no link followed); they never
 * open a path, so every check of the walk holds for what they hash.
 */
import { availableParallelism } from 'node:os';
import { Worker } from 'node:worker_threads';

/**
 * The worker, as source: a file of its own would need a bundle of its own. It reads each open
 * descriptor to its end through one reused 4 MiB buffer, as the main thread's hashing does.
 */
const WORKER_SOURCE = `
const { parentPort } = require('node:worker_threads');
const { readSync } = require('node:fs');
const { createHash } = require('node:crypto');
const buffer = Buffer.allocUnsafe(4 * 1024 * 1024);
parentPort.on('message', (fds) => {
  parentPort.postMessage(fds.map((fd) => {
    try {
      const hash = createHash('sha1');
      for (let read; (read = readSync(fd, buffer, 0, buffer.length, null)) > 0; ) hash.update(buffer.subarray(0, read));
      return hash.digest('hex');
    } catch (error) {
      return { error: (error && error.code) || String(error) };
    }
  }));
});
`;

/** A file's SHA-1 in hex, or why its descriptor could not be read (an errno code). */
export type HashResult = string | { error: string };

export interface HashPool {
  /** Hashes the open descriptors, in order; they stay open (the caller closes them). */
  hash(fds: number[]): Promise<HashResult[]>;
  /** Settles when every worker runs (or failed to start): a batch taken earlier would wait for them. */
  online: Promise<void>;
  close(): Promise<void>;
}

/**
 * Workers worth starting: one per core besides the main thread's, at most three; none on one core.
 * The main thread hashes too (files.ts), so the workers' start-up (~25 ms each) costs nothing.
 */
export const hashWorkerCount = () => Math.min(3, availableParallelism() - 1);

/** Batches posted to one worker before its answers: it starts the next while the main thread is busy. */
const DEPTH = 2;

interface Pending {
  resolve: (results: HashResult[]) => void;
  reject: (error: Error) => void;
}

export function createHashPool(size: number): HashPool {
  const workers = Array.from({ length: size }, () => {
    const worker = new Worker(WORKER_SOURCE, { eval: true, execArgv: [] });
    const pending: Pending[] = [];
    // A worker answers its batches in the order they were posted.
    worker.on('message', (results: HashResult[]) => pending.shift()?.resolve(results));
    const fail = (error: Error) => pending.splice(0).forEach((p) => p.reject(error));
    worker.on('error', fail);
    // A worker that ends on its own (killed, out of memory) fails what it held instead of leaving it waiting.
    worker.on('exit', (code) => fail(new Error(`a hashing thread ended (exit code ${code})`)));
    const online = new Promise<void>((resolve) => {
      worker.once('online', resolve);
      worker.once('exit', () => resolve());
    });
    return { worker, pending, online };
  });
  const waiting: (() => void)[] = [];
  return {
    online: Promise.all(workers.map((w) => w.online)).then(() => undefined),
    async hash(fds) {
      for (;;) {
        const least = workers.reduce((a, b) => (b.pending.length < a.pending.length ? b : a));
        if (least.pending.length < DEPTH) {
          return await new Promise<HashResult[]>((resolve, reject) => {
            least.pending.push({ resolve, reject });
            least.worker.postMessage(fds);
          }).finally(() => waiting.shift()?.());
        }
        await new Promise<void>((resolve) => waiting.push(resolve));
      }
    },
    async close() {
      await Promise.all(workers.map(({ worker }) => worker.terminate()));
    },
  };
}
