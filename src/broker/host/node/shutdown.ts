/**
 * `serve`'s way out on SIGTERM (or SIGINT): readiness answers 503 at once, the server stops
 * accepting once a probe has seen that, in-flight requests finish for up to
 * `shutdown_grace_seconds`, the store closes, and the process ends with one line saying how.
 */
import type { Logger } from '../../audit.js';
import type { OperatedBroker } from './ops.js';
import type { RunningServer } from './server.js';

/** The longest the server keeps accepting after readiness turned 503, waiting for a probe to see it. */
const MAX_PRE_STOP_MS = 5_000;
/** What the store may take to close (an unreachable Redis must not hold the exit). */
const STORE_CLOSE_MS = 2_000;
/** Past the grace, the process ends whatever is still pending. */
const HARD_EXIT_MARGIN_MS = STORE_CLOSE_MS + 1_000;

export interface DrainOptions {
  signal: string;
  graceSeconds: number;
  broker: OperatedBroker;
  server: RunningServer;
  /** Closes the store connections (runtime.close). */
  closeRuntime: () => Promise<void>;
  logger: Logger;
  /** Ends the process now: the last resort when closing hangs past the grace. */
  exit?: (code: number, reason: string) => void;
}

const sleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms));

/** Resolves true when `work` settles within `ms`, false otherwise (work keeps running). */
function within(work: Promise<unknown>, ms: number): Promise<boolean> {
  return new Promise<boolean>((resolve) => {
    const timer = setTimeout(() => resolve(false), ms);
    work.then(
      () => (clearTimeout(timer), resolve(true)),
      () => (clearTimeout(timer), resolve(true)),
    );
  });
}

/**
 * Keeps accepting for a moment when something probes readiness periodically (a load balancer, a
 * kubelet): a new connection that arrives before it has seen the 503 would otherwise be refused.
 * Waits for its next probe (at most two of its periods, 5 s, half the grace). Nobody probing: no wait.
 */
async function preStop(broker: OperatedBroker, start: number, graceMs: number): Promise<void> {
  const probed = broker.lastProbe();
  const period = probed?.sincePrevious;
  if (!probed || period === undefined || start - probed.at > 3 * period) return;
  const until = start + Math.min(2 * period, MAX_PRE_STOP_MS, graceMs / 2);
  while (Date.now() < until && !broker.lastProbe()?.draining) await sleep(25);
}

/** Drains and closes; resolves with the one-line reason the process prints as it exits. */
export async function drain(options: DrainOptions): Promise<string> {
  const { signal, broker, server, logger } = options;
  const start = Date.now();
  const graceMs = options.graceSeconds * 1000;
  broker.stopReadiness(`draining: ${signal} received`);
  logger.log('info', 'draining', {
    signal,
    grace_seconds: options.graceSeconds,
    in_flight: server.inFlight(),
  });
  // Whatever hangs below (a store that never closes), the process ends shortly after the grace.
  const hard = setTimeout(() => {
    options.exit?.(
      1,
      `keyhole-broker: stopped (${signal}): shutdown did not finish within ${options.graceSeconds} s plus ${HARD_EXIT_MARGIN_MS / 1000} s; exiting anyway`,
    );
  }, graceMs + HARD_EXIT_MARGIN_MS);

  await preStop(broker, start, graceMs);
  const cut = await server.close(Math.max(0, graceMs - (Date.now() - start)));
  if (cut > 0)
    logger.log('warn', 'shutdown grace over; requests still in flight were cut', {
      signal,
      cut,
      grace_seconds: options.graceSeconds,
    });
  const storeClosed = await within(options.closeRuntime(), STORE_CLOSE_MS);
  clearTimeout(hard);
  const seconds = ((Date.now() - start) / 1000).toFixed(1);
  const parts = [
    `drained in ${seconds} s`,
    cut > 0 ? `${cut} request(s) cut at the ${options.graceSeconds} s grace` : 'no request cut',
    ...(storeClosed
      ? []
      : [`the replay store did not close within ${STORE_CLOSE_MS / 1000} s (unreachable?)`]),
  ];
  logger.log('info', 'stopped', { signal, seconds: Number(seconds), cut, store_closed: storeClosed });
  return `keyhole-broker: stopped (${signal}): ${parts.join(', ')}`;
}
