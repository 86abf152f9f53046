/** Buffered request-body bytes (docs/threat-model.md, "Availability"): one job never holds what every other deploy needs. */
import { BrokerError } from '../errors.js';

/**
 * A budget of request-body bytes buffered in memory at once, across all clients: a create body
 * is parsed whole, so many slow or large ones must be refused quickly (503) instead of growing RSS.
 * One owner (a job's credentials) may hold at most `ownerShare` of it, so no single job can take
 * what every other deploy needs.
 */
export class ByteBudget {
  private used = 0;
  private readonly byOwner = new Map<string, number>();
  private readonly total: () => number;
  private readonly ownerShare: () => number;

  constructor(total: () => number, ownerShare: () => number = total) {
    this.total = total;
    this.ownerShare = ownerShare;
  }

  /** Takes `bytes` for `owner` or throws 503; the caller gives them back with `release`. */
  take(bytes: number, owner: string): void {
    const own = this.byOwner.get(owner) ?? 0;
    if (this.used + bytes > this.total()) {
      throw new BrokerError(
        503,
        'unavailable',
        'The broker is buffering as many request bodies as it may; retry shortly.',
        { 'retry-after': '2' },
      );
    }
    if (own + bytes > this.ownerShare()) {
      throw new BrokerError(
        503,
        'unavailable',
        "This job's requests are buffering their share of the broker's request-body memory; retry shortly.",
        { 'retry-after': '2' },
      );
    }
    this.used += bytes;
    this.byOwner.set(owner, own + bytes);
  }

  release(bytes: number, owner: string): void {
    this.used = Math.max(0, this.used - bytes);
    const own = (this.byOwner.get(owner) ?? 0) - bytes;
    if (own > 0) this.byOwner.set(owner, own);
    else this.byOwner.delete(owner);
  }
}
