/**
 * A broker started on its first request, for platforms that build it inside a handler (Workers
 * forbid random values at module scope; Vercel Functions read secrets per instance). It starts
 * once; a failed start is logged with what to fix, answered 503 `unavailable` on every platform
 * alike, and tried again by the next request, after `onFailure` closed what the attempt opened.
 */
import type { Broker } from '../app.js';

export interface LazyOptions {
  /** One JSON line to the platform's log. */
  log: (line: string) => void;
  /** Undoes what a failed start opened (connections), so retries do not pile them up. */
  onFailure?: () => Promise<void>;
}

export interface LazyBroker {
  fetch(request: Request): Promise<Response>;
  /** Forgets the started broker (after `close`, a test's or a runtime's shutdown). */
  reset(): void;
}

export function lazyBroker(start: () => Promise<Broker>, options: LazyOptions): LazyBroker {
  let starting: Promise<Broker> | undefined;
  return {
    async fetch(request) {
      const attempt = (starting ??= start());
      let broker: Broker;
      try {
        broker = await attempt;
      } catch (error) {
        if (starting === attempt) {
          starting = undefined;
          await options.onFailure?.().catch(() => undefined);
        }
        // Config errors name the setting to fix and never carry a secret's value.
        options.log(
          JSON.stringify({
            time: new Date().toISOString(),
            level: 'error',
            msg: 'broker failed to start',
            error: error instanceof Error ? error.message : String(error),
          }),
        );
        return Response.json(
          {
            error: {
              code: 'unavailable',
              message: 'The broker failed to start; its log says which setting to fix.',
            },
          },
          { status: 503 },
        );
      }
      return broker.fetch(request);
    },
    reset() {
      starting = undefined;
    },
  };
}
