/** Calls in flight per job, with a short fair queue, and calls held per repository and owner (docs/threat-model.md, "Availability"). */
import { tooMany, type BrokerError } from '../errors.js';

/**
 * Calls in flight per key (a job's budget owner: the credentials of one job share it), with a short fair queue: a client that opens a few more
 * connections than the cap (the official CLI uploads 50 at a time) waits its turn; past the queue,
 * or after waiting `waitMs`, it is answered 429 with Retry-After. Process-local on purpose: it
 * guards this instance's sockets and memory, and a crashed instance must not leave slots taken.
 */
export class InflightLimit {
  private readonly active = new Map<string, number>();
  private readonly waiting = new Map<string, (() => void)[]>();

  private readonly what: string;
  private readonly waitMs: number;

  constructor(what: string, waitMs = 5_000) {
    this.what = what;
    this.waitMs = waitMs;
  }

  /** Resolves with a release function, or throws 429. */
  async acquire(key: string, limit: number): Promise<() => void> {
    const count = this.active.get(key) ?? 0;
    if (count < limit) {
      this.active.set(key, count + 1);
      return this.releaser(key);
    }
    const queue = this.waiting.get(key) ?? [];
    if (queue.length >= limit) throw this.refusal(limit);
    this.waiting.set(key, queue);
    const admitted = await new Promise<boolean>((resolve) => {
      const wake = () => {
        clearTimeout(timer);
        resolve(true);
      };
      const timer = setTimeout(() => {
        const at = queue.indexOf(wake);
        if (at !== -1) queue.splice(at, 1);
        if (queue.length === 0 && this.waiting.get(key) === queue) this.waiting.delete(key);
        resolve(false);
      }, this.waitMs);
      queue.push(wake);
    });
    if (!admitted) throw this.refusal(limit);
    return this.releaser(key);
  }

  private releaser(key: string): () => void {
    let released = false;
    return () => {
      if (released) return;
      released = true;
      const queue = this.waiting.get(key);
      const next = queue?.shift();
      if (queue?.length === 0) this.waiting.delete(key);
      // The slot passes straight to the next waiter; the count only drops when no one waits.
      if (next) return next();
      const count = (this.active.get(key) ?? 1) - 1;
      if (count <= 0) this.active.delete(key);
      else this.active.set(key, count);
    };
  }

  private refusal(limit: number): BrokerError {
    return tooMany(
      `this job already has ${limit} ${this.what} in flight, its limit; retry when one finishes`,
      2,
    );
  }
}

/**
 * Calls one repository's (or one owner's) jobs hold at once, in flight or waiting for their job's
 * slot: a hard cap without a queue, so however many matrix jobs a repository runs, it holds at most
 * `limit` of the connections and sockets every repository shares; past it, 429 at once.
 */
export class HeldLimit {
  private readonly held = new Map<string, number>();

  /** Takes one for `key`, or throws `refusal()` when `limit` are held; resolves with the release. */
  take(key: string, limit: number, refusal: () => BrokerError): () => void {
    const count = this.held.get(key) ?? 0;
    if (count >= limit) throw refusal();
    this.held.set(key, count + 1);
    let released = false;
    return () => {
      if (released) return;
      released = true;
      const left = (this.held.get(key) ?? 1) - 1;
      if (left <= 0) this.held.delete(key);
      else this.held.set(key, left);
    };
  }
}
