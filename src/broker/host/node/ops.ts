/**
 * The operator's endpoints in front of the broker: `GET /readyz` (the store answers, the issuer's
 * keys are loaded or loadable) and `GET /metrics` (Prometheus text, only with its bearer token).
 * Both are answered before the gateway, which would otherwise ask for a credential. Readiness has one
 * owner, this module: a drain (SIGTERM) turns it to 503 for good, before any check runs.
 */
import type { Broker } from '../../app.js';

export interface ReadinessCheck {
  name: string;
  /** Resolves when healthy; rejects with the reason otherwise. */
  check(): Promise<void>;
}

export interface MetricsEndpoint {
  contentType: string;
  render(): Promise<string>;
  uploadStarted(): () => void;
}

export interface OperationsOptions {
  readiness: readonly ReadinessCheck[];
  metrics?: MetricsEndpoint;
  /** The bearer token `/metrics` requires (from `metrics_token_env`), read per request so a reload applies. */
  metricsToken: () => string | undefined;
  /** How long a readiness check may take before it counts as failed. */
  checkTimeoutMs?: number;
}

const text = (status: number, body: string, contentType = 'text/plain; charset=utf-8') =>
  new Response(body, { status, headers: { 'content-type': contentType, 'cache-control': 'no-store' } });

const notFound = () =>
  new Response(JSON.stringify({ error: { code: 'not_found', message: 'Not found.' } }), {
    status: 404,
    headers: { 'content-type': 'application/json; charset=utf-8' },
  });

/** Compares the SHA-256 digests in constant time: neither the token's length nor its prefix leaks. */
export async function tokensEqual(given: string, expected: string): Promise<boolean> {
  const encode = (value: string) => crypto.subtle.digest('SHA-256', new TextEncoder().encode(value));
  const [a, b] = (await Promise.all([encode(given), encode(expected)])).map((d) => new Uint8Array(d));
  let difference = 0;
  for (let i = 0; i < a!.length; i++) difference |= a![i]! ^ b![i]!;
  return difference === 0;
}

function withTimeout(check: ReadinessCheck, ms: number): Promise<void> {
  return new Promise<void>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`no answer within ${ms} ms`)), ms);
    check.check().then(
      () => (clearTimeout(timer), resolve()),
      (error: unknown) => (clearTimeout(timer), reject(error)),
    );
  });
}

export interface ReadinessProbe {
  at: number;
  /** Milliseconds since the probe before this one (a periodic prober's period). */
  sincePrevious?: number;
  draining: boolean;
}

/** The broker with its operator's endpoints, and the readiness state they answer from. */
export interface OperatedBroker extends Broker {
  /** From now on `/readyz` answers 503 with `reason` (a drain: never undone). */
  stopReadiness(reason: string): void;
  /** When `/readyz` was last asked (epoch ms), the time since the probe before, and whether it said "draining". */
  lastProbe(): ReadinessProbe | undefined;
}

/** Wraps `current()` (the broker of the config in force) with the operator's endpoints. */
export function withOperations(current: () => Broker, options: OperationsOptions): OperatedBroker {
  const timeoutMs = options.checkTimeoutMs ?? 3_000;
  let drainReason: string | undefined;
  let probe: ReadinessProbe | undefined;

  async function readiness(): Promise<Response> {
    const at = Date.now();
    probe = { at, ...(probe ? { sincePrevious: at - probe.at } : {}), draining: drainReason !== undefined };
    // Draining answers at once: a load balancer must stop sending new work now, whatever Redis says.
    if (drainReason !== undefined) {
      const body = {
        ready: false,
        draining: true,
        checks: [{ name: 'shutdown', ok: false, reason: drainReason }],
      };
      return new Response(JSON.stringify(body), {
        status: 503,
        headers: { 'content-type': 'application/json; charset=utf-8', 'cache-control': 'no-store' },
      });
    }
    const results = await Promise.all(
      options.readiness.map(async (check) => {
        try {
          await withTimeout(check, timeoutMs);
          return { name: check.name, ok: true as const };
        } catch (error) {
          return {
            name: check.name,
            ok: false as const,
            reason: (error instanceof Error ? error.message : String(error)).slice(0, 300),
          };
        }
      }),
    );
    const failed = results.filter((r) => !r.ok);
    const body = { ready: failed.length === 0, checks: results };
    return new Response(JSON.stringify(body), {
      status: failed.length === 0 ? 200 : 503,
      headers: { 'content-type': 'application/json; charset=utf-8', 'cache-control': 'no-store' },
    });
  }

  async function metrics(request: Request): Promise<Response> {
    const token = options.metricsToken();
    // Off unless configured: without a token the endpoint does not exist (404).
    if (!options.metrics || !token) return notFound();
    const match = /^Bearer (\S+)$/i.exec(request.headers.get('authorization') ?? '');
    // A wrong token answers like no endpoint at all: the contract's 404, nothing to probe.
    if (!match || !(await tokensEqual(match[1]!, token))) return notFound();
    return text(200, await options.metrics.render(), options.metrics.contentType);
  }

  return {
    stopReadiness: (reason) => void (drainReason ??= reason),
    lastProbe: () => probe,
    fetch: async (request, rawTarget, nodeBody) => {
      const path = (rawTarget ?? new URL(request.url).pathname).split('?')[0];
      if (request.method === 'GET' && path === '/readyz') return readiness();
      if (request.method === 'GET' && path === '/metrics') return metrics(request);
      // Both upload routes (one file, a framed batch) stream bytes while they run.
      const upload = path === '/v2/files' || path === '/v1/files/batch';
      if (options.metrics && request.method === 'POST' && upload) {
        const done = options.metrics.uploadStarted();
        try {
          return await current().fetch(request, rawTarget, nodeBody);
        } finally {
          done();
        }
      }
      return current().fetch(request, rawTarget, nodeBody);
    },
    // The lean per-file upload: counted in flight like the upload routes above.
    upload: async (request) => {
      const broker = current();
      if (!broker.upload) throw new Error('this broker has no lean upload path');
      const done = options.metrics?.uploadStarted();
      try {
        return await broker.upload(request);
      } finally {
        done?.();
      }
    },
  };
}
