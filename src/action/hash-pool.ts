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
  close(): Promise<void>;
}

/** Workers worth starting: one per core, at most four; none on one core (the main thread hashes). */
export const hashWorkerCount = () => Math.min(4, availableParallelism());

export function createHashPool(size: number): HashPool {
  const idle: Worker[] = [];
  const waiting: ((worker: Worker) => void)[] = [];
  const workers = Array.from({ length: size }, () => new Worker(WORKER_SOURCE, { eval: true }));
  idle.push(...workers);
  const release = (worker: Worker) => {
    const next = waiting.shift();
    if (next) next(worker);
    else idle.push(worker);
  };
  const acquire = () =>
    new Promise<Worker>((resolve) => {
      const worker = idle.pop();
      if (worker) resolve(worker);
      else waiting.push(resolve);
    });
  return {
    async hash(fds) {
      const worker = await acquire();
      try {
        return await new Promise<HashResult[]>((resolve, reject) => {
          const onError = (error: Error) => {
            worker.off('message', onMessage);
            reject(error);
          };
          const onMessage = (results: HashResult[]) => {
            worker.off('error', onError);
            resolve(results);
          };
          worker.once('message', onMessage);
          worker.once('error', onError);
          worker.postMessage(fds);
        });
      } finally {
        release(worker);
      }
    },
    async close() {
      await Promise.all(workers.map((worker) => worker.terminate()));
    },
  };
}
