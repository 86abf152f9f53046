/** Fault injection: faults a test queued, or random ones at the seeded rate, played before a route answers. */
import { drain, error } from './http.js';
import type { FakeState } from './state.js';
import type { Fault, FaultKind } from './types.js';
import type { IncomingMessage, ServerResponse } from 'node:http';

function matchFault(fake: FakeState, req: IncomingMessage, path: string): Fault | undefined {
  const index = fake.faults.findIndex(
    (f) =>
      (!f.method || f.method === req.method) &&
      (!f.path || (typeof f.path === 'string' ? path.startsWith(f.path) : f.path.test(path))),
  );
  if (index !== -1) {
    const fault = fake.faults[index]!;
    fault.times = (fault.times ?? 1) - 1;
    if (fault.times <= 0) fake.faults.splice(index, 1);
    return fault;
  }
  if (fake.faultMix) {
    let roll = fake.random();
    for (const [kind, rate] of Object.entries(fake.faultMix.kinds) as [FaultKind, number][]) {
      if (roll < rate)
        return {
          kind: /^\d+$/.test(String(kind)) ? (Number(kind) as FaultKind) : kind,
          retryAfterSeconds: fake.faultMix.retryAfterSeconds,
        };
      roll -= rate;
    }
    return undefined;
  }
  if (fake.faultRate > 0 && fake.random() < fake.faultRate) {
    const kinds: FaultKind[] = [429, 500, 502, 503, 'reset', 'reset-after'];
    return { kind: kinds[Math.floor(fake.random() * kinds.length)]!, retryAfterSeconds: 0 };
  }
  return undefined;
}

/**
 * Plays the fault that hits this request, if any. true: the request is answered (or its connection
 * gone); false: the route answers, possibly late (`slow`) or into the void (`reset-after`).
 */
export async function playFault(
  fake: FakeState,
  req: IncomingMessage,
  res: ServerResponse,
  path: string,
): Promise<boolean> {
  const fault = matchFault(fake, req, path);
  if (!fault) return false;
  if (fault.kind === 'reset') {
    req.socket.destroy();
    return true;
  }
  if (fault.kind === 'reset-after') {
    // Let the handler do its work, then lose the answer on the way back.
    res.writeHead = (() => {
      req.socket.destroy();
      return res;
    }) as typeof res.writeHead;
    res.end = (() => res) as typeof res.end;
    res.write = (() => true) as typeof res.write;
    return false;
  }
  if (fault.kind === 'slow') {
    await new Promise((r) => setTimeout(r, fault.delayMs ?? 1000));
    return false;
  }
  // Drain the body so the client sees the status, not a broken pipe.
  await drain(req);
  const retry = String(fault.retryAfterSeconds ?? 1);
  if (fault.kind === 429) {
    // Vercel's rate-limit headers, as its API sends them with every 429 (reset in epoch seconds).
    const reset = String(Math.ceil(Date.now() / 1000) + Number(retry));
    error(
      res,
      429,
      'rate_limited',
      'Rate limit exceeded',
      {
        limit: {
          remaining: 0,
          reset: Math.ceil(Date.now() / 1000) + 1,
          resetMs: Date.now() + 1000,
          total: 100,
        },
      },
      {
        'retry-after': retry,
        'x-ratelimit-limit': '100',
        'x-ratelimit-remaining': '0',
        'x-ratelimit-reset': reset,
      },
    );
  } else if (fault.kind === 403)
    error(res, 403, 'forbidden', "You don't have permission to access this resource", {});
  else
    error(
      res,
      fault.kind,
      'internal_server_error',
      'An unexpected internal error occurred',
      {},
      fault.kind === 503 ? { 'retry-after': retry } : {},
    );
  return true;
}
