/** Buffered request-body bytes (docs/threat-model.md, "Availability"): no job, repository or owner holds what every other deploy needs. */
import { BrokerError } from '../errors.js';

/** One holder's share of the budget: `key` names it (a job, a repository, an owner), `who` says whose it is in a refusal. */
export interface ByteShare {
  readonly key: string;
  readonly max: number;
  readonly who: string;
}

/**
 * A budget of request-body bytes buffered in memory at once, across all clients: a create body
 * is parsed whole, so many slow or large ones must be refused quickly (503) instead of growing RSS.
 * Each bytes taken also counts against every share the call names (its job, its repository and the
 * repository's owner), so one owner's matrix of jobs cannot take what another owner's deploy needs.
 */
export class ByteBudget {
  private used = 0;
  private readonly held = new Map<string, number>();
  private readonly total: () => number;

  constructor(total: () => number) {
    this.total = total;
  }

  /** Takes `bytes` for every share or throws 503 (taking none); the caller gives them back with `release`. */
  take(bytes: number, shares: readonly ByteShare[]): void {
    if (this.used + bytes > this.total()) {
      throw new BrokerError(
        503,
        'unavailable',
        'The broker is buffering as many request bodies as it may; retry shortly.',
        { 'retry-after': '2' },
      );
    }
    for (const share of shares) {
      if ((this.held.get(share.key) ?? 0) + bytes > share.max) {
        throw new BrokerError(
          503,
          'unavailable',
          `${share.who} requests are buffering their share (${share.max} bytes) of the broker's request-body memory; retry shortly.`,
          { 'retry-after': '2' },
        );
      }
    }
    this.used += bytes;
    for (const share of shares) this.held.set(share.key, (this.held.get(share.key) ?? 0) + bytes);
  }

  release(bytes: number, shares: readonly ByteShare[]): void {
    this.used = Math.max(0, this.used - bytes);
    for (const share of shares) {
      const own = (this.held.get(share.key) ?? 0) - bytes;
      if (own > 0) this.held.set(share.key, own);
      else this.held.delete(share.key);
    }
  }
}
