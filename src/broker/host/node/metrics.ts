/**
 * The broker's Prometheus metrics (prom-client), one registry per broker instance. Every label comes
 * from a closed set (decisions, error codes, route names, upstream path templates): no credential
 * id, repository or raw path ever becomes a label, so the number of series stays bounded.
 */
import { collectDefaultMetrics, Counter, Gauge, Histogram, Registry } from 'prom-client';
import type { AuditEvent, Logger } from '../../audit.js';
import type { ExchangeStep, ReplayStore } from '../../store/store.js';
import type { UpstreamFetch } from '../../gateway/forward.js';
import type { GitHubObserver } from '../../github/app.js';

/** The names the Grafana dashboard (examples/grafana-dashboard.json) and docs/operations.md use. */
export const METRIC_NAMES = [
  'keyhole_exchanges_total',
  'keyhole_gateway_requests_total',
  'keyhole_upstream_request_duration_seconds',
  'keyhole_upstream_errors_total',
  'keyhole_upload_bytes_total',
  'keyhole_uploads_in_flight',
  'keyhole_store_errors_total',
  'keyhole_jwks_refreshes_total',
  'keyhole_jwks_age_seconds',
  'keyhole_jwks_stale_verifications_total',
  'keyhole_config_reloads_total',
  'keyhole_github_requests_total',
  'keyhole_github_rate_limits_total',
  'keyhole_github_requests_spared_total',
] as const;

/** Path segments an upstream path template keeps; anything else (ids, names) becomes `:id`. */
const PATH_WORDS = new Set([
  'files',
  'deployments',
  'projects',
  'events',
  'cancel',
  'now',
  'aliases',
  'promote',
  'env',
  'pull',
  'teams',
  'user',
]);

/** `/v13/deployments/dpl_123/events` → `/v13/deployments/:id/events`: a bounded label for a URL. */
export function upstreamPathTemplate(pathname: string): string {
  const segments = pathname.split('/').filter(Boolean).slice(0, 6);
  return `/${segments.map((s) => (/^v\d{1,2}$/.test(s) || PATH_WORDS.has(s) ? s : ':id')).join('/')}`;
}

/** The gateway routes that stream file bytes to Vercel: one file, or a framed batch of them. */
const UPLOAD_ROUTES = new Set(['upload-file', 'upload-batch']);

/** Route names are kebab-case words from the allow-list; a refused call's raw path is not one. */
const routeLabel = (route: string | undefined) =>
  route && /^[a-z][a-z-]{0,40}$/.test(route) ? route : 'not-allowed';
/** Error codes are a closed union (src/shared/wire.ts); the allow reason is the rule that matched. */
const codeLabel = (code: string | undefined) => (code && /^[a-z_]{1,40}$/.test(code) ? code : 'other');

export interface BrokerMetrics {
  readonly registry: Registry;
  readonly contentType: string;
  render(): Promise<string>;
  /** Counts exchanges and gateway calls from the audit events the broker writes anyway. */
  instrumentLogger(logger: Logger): Logger;
  instrumentStore(store: ReplayStore): ReplayStore;
  /** Times upstream (Vercel) calls until their response headers arrive (a `postWhole`: its whole answer). */
  instrumentFetch(fetcher: UpstreamFetch): UpstreamFetch;
  /** Wraps the fetch the JWKS client uses: counts refreshes and remembers the last good one. */
  instrumentKeySetFetch(fetcher: typeof fetch): typeof fetch;
  staleKeySetUsed(): void;
  uploadStarted(): () => void;
  configReloaded(outcome: 'ok' | 'refused'): void;
  /** Counts GitHub requests by outcome, rate-limit answers, and requests spared. */
  readonly github: GitHubObserver;
  /** When the issuer's keys were last fetched successfully (epoch ms), if ever. */
  keySetLoadedAt(): number | undefined;
}

/** The series the broker serves; `keySetAt` tells the key-set age gauge when keys last arrived. */
function createSeries(registry: Registry, now: () => number, keySetAt: () => number | undefined) {
  const registers = [registry];
  const exchanges = new Counter({
    name: 'keyhole_exchanges_total',
    help: 'Token exchanges by decision (allow, deny, error) and reason (allowed or the error code).',
    labelNames: ['decision', 'reason'] as const,
    registers,
  });
  const gatewayRequests = new Counter({
    name: 'keyhole_gateway_requests_total',
    help: 'Gateway calls by route (allow-list name, or not-allowed) and HTTP status answered.',
    labelNames: ['route', 'status'] as const,
    registers,
  });
  const upstreamDuration = new Histogram({
    name: 'keyhole_upstream_request_duration_seconds',
    help: 'Time until the Vercel API answered with headers, by method, path template and outcome.',
    labelNames: ['method', 'path', 'outcome'] as const,
    buckets: [0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60],
    registers,
  });
  const upstreamErrors = new Counter({
    name: 'keyhole_upstream_errors_total',
    help: "Vercel answers that were not a success of Vercel's: 429 (its rate limits), 5xx, or no answer (unreachable), by path template.",
    labelNames: ['path', 'status'] as const,
    registers,
  });
  const uploadBytes = new Counter({
    name: 'keyhole_upload_bytes_total',
    help: 'File bytes streamed through the gateway to Vercel (accepted uploads).',
    registers,
  });
  const uploadsInFlight = new Gauge({
    name: 'keyhole_uploads_in_flight',
    help: 'File uploads currently streaming through this instance.',
    registers,
  });
  const storeErrors = new Counter({
    name: 'keyhole_store_errors_total',
    help: 'Replay store operations that failed (Redis unreachable, timed out or refused); each answered 503.',
    labelNames: ['operation'] as const,
    registers,
  });
  const jwksRefreshes = new Counter({
    name: 'keyhole_jwks_refreshes_total',
    help: "Fetches of the OIDC issuer's key set, by outcome (ok, error).",
    labelNames: ['outcome'] as const,
    registers,
  });
  new Gauge({
    name: 'keyhole_jwks_age_seconds',
    help: "Seconds since the issuer's key set was last fetched successfully; -1 before the first fetch.",
    registers,
    collect() {
      const at = keySetAt();
      this.set(at === undefined ? -1 : (now() - at) / 1000);
    },
  });
  const staleVerifications = new Counter({
    name: 'keyhole_jwks_stale_verifications_total',
    help: 'Tokens verified with the last good key set because the issuer was unreachable.',
    registers,
  });
  const reloads = new Counter({
    name: 'keyhole_config_reloads_total',
    help: 'Config reloads (SIGHUP) by outcome: ok, or refused (the old config stays).',
    labelNames: ['outcome'] as const,
    registers,
  });
  const githubRequests = new Counter({
    name: 'keyhole_github_requests_total',
    help: 'Requests to the GitHub API (job checks, app tokens) by outcome: ok, not_found, refused, unreachable, rate_limited.',
    labelNames: ['outcome'] as const,
    registers,
  });
  const githubRateLimits = new Counter({
    name: 'keyhole_github_rate_limits_total',
    help: 'Times GitHub answered "rate limited": each starts a wait during which no GitHub request is made.',
    registers,
  });
  const githubSpared = new Counter({
    name: 'keyhole_github_requests_spared_total',
    help: "GitHub requests not made: GitHub's rate limit in force (rate_limited) or the repository's budget spent (budget); each answered 503.",
    labelNames: ['reason'] as const,
    registers,
  });
  // Series that should read 0 rather than be absent before the first event (alerts on rate()).
  for (const outcome of ['ok', 'not_found', 'refused', 'unreachable', 'rate_limited'])
    githubRequests.inc({ outcome }, 0);
  for (const reason of ['rate_limited', 'budget']) githubSpared.inc({ reason }, 0);
  exchanges.inc({ decision: 'allow', reason: 'allowed' }, 0);
  for (const operation of ['reserve', 'release', 'get', 'put', 'take', 'ping'])
    storeErrors.inc({ operation }, 0);
  for (const outcome of ['ok', 'error']) jwksRefreshes.inc({ outcome }, 0);
  for (const outcome of ['ok', 'refused']) reloads.inc({ outcome }, 0);

  return {
    exchanges,
    gatewayRequests,
    upstreamDuration,
    upstreamErrors,
    uploadBytes,
    uploadsInFlight,
    storeErrors,
    jwksRefreshes,
    staleVerifications,
    reloads,
    github: {
      request: (outcome) => {
        githubRequests.inc({ outcome });
        if (outcome === 'rate_limited') githubRateLimits.inc();
      },
      spared: (reason) => githubSpared.inc({ reason }),
    } satisfies GitHubObserver,
  };
}

/** Counts each failed store operation by name; the store's answers pass through unchanged. */
function countStoreErrors(store: ReplayStore, storeErrors: Counter<'operation'>): ReplayStore {
  const counted =
    <A extends unknown[], R>(operation: string, call: (...args: A) => Promise<R>) =>
    async (...args: A): Promise<R> => {
      try {
        return await call(...args);
      } catch (error) {
        storeErrors.inc({ operation });
        throw error;
      }
    };
  return {
    reserve: counted('reserve', (k: string, t: number) => store.reserve(k, t)),
    release: counted('release', (k: string) => store.release(k)),
    get: counted('get', (k: string) => store.get(k)),
    put: counted('put', (k: string, v: string, t: number) => store.put(k, v, t)),
    take: counted('take', (k: string, a: number, l: number, t: number) => store.take(k, a, l, t)),
    // Kept only where the store has it: without it the exchange composes the step from the above.
    ...(store.exchange
      ? { exchange: counted('exchange', (step: ExchangeStep) => store.exchange!(step)) }
      : {}),
    ping: counted('ping', async () => store.ping?.()),
    close: async () => store.close?.(),
  };
}

/** Times upstream (Vercel) calls until their headers (a `postWhole`: its whole answer). */
function timeUpstream(
  fetcher: UpstreamFetch,
  upstreamDuration: Histogram<'method' | 'path' | 'outcome'>,
  upstreamErrors: Counter<'path' | 'status'>,
): UpstreamFetch {
  const timed = async <T extends { status: number }>(
    labels: { method: string; path: string },
    call: () => Promise<T>,
  ): Promise<T> => {
    const stop = upstreamDuration.startTimer(labels);
    try {
      const answer = await call();
      stop({ outcome: `${Math.floor(answer.status / 100)}xx` });
      // Vercel's own limits and incidents, counted apart from the broker's answers (the alert rules).
      if (answer.status === 429 || answer.status >= 500)
        upstreamErrors.inc({ path: labels.path, status: answer.status === 429 ? '429' : '5xx' });
      return answer;
    } catch (error) {
      stop({ outcome: 'error' });
      upstreamErrors.inc({ path: labels.path, status: 'unreachable' });
      throw error;
    }
  };
  const instrumented: UpstreamFetch = async (input, init) => {
    const request = input instanceof Request ? input : undefined;
    const url = new URL(request ? request.url : String(input));
    const method = (init?.method ?? request?.method ?? 'GET').toUpperCase();
    return timed({ method, path: upstreamPathTemplate(url.pathname) }, () => fetcher(input, init));
  };
  // What the Node fetch adds travels with it: without the flag, streamed upload bodies would be
  // wrapped in a web stream and unwrapped again per chunk.
  if (fetcher.acceptsAsyncIterable) instrumented.acceptsAsyncIterable = true;
  // The lean POSTs go to a project's few upload URLs: each one's label is worked out once.
  const postLabels = new Map<string, { method: string; path: string }>();
  const postLabel = (url: string) => {
    let labels = postLabels.get(url);
    if (!labels) {
      labels = { method: 'POST', path: upstreamPathTemplate(new URL(url).pathname) };
      if (postLabels.size >= 256) postLabels.clear();
      postLabels.set(url, labels);
    }
    return labels;
  };
  const post = fetcher.postWhole;
  if (post) {
    instrumented.postWhole = (url, headers, body, timeoutMs) =>
      timed(postLabel(url), () => post(url, headers, body, timeoutMs));
  }
  const stream = fetcher.postStream;
  if (stream) {
    instrumented.postStream = (url, headers, body, timeoutMs) =>
      timed(postLabel(url), () => stream(url, headers, body, timeoutMs));
  }
  return instrumented;
}

export function createMetrics(options: { now?: () => number } = {}): BrokerMetrics {
  const now = options.now ?? Date.now;
  const registry = new Registry();
  collectDefaultMetrics({ register: registry });
  let keySetAt: number | undefined;
  const {
    exchanges,
    gatewayRequests,
    upstreamDuration,
    upstreamErrors,
    uploadBytes,
    uploadsInFlight,
    storeErrors,
    jwksRefreshes,
    staleVerifications,
    reloads,
    github,
  } = createSeries(registry, now, () => keySetAt);

  const observeAudit = (event: AuditEvent) => {
    if (event.event === 'exchange') {
      const reason = event.decision === 'allow' ? 'allowed' : codeLabel(event.code);
      exchanges.inc({ decision: event.decision, reason });
      return;
    }
    // Revocations are the post step's housekeeping, not gateway traffic (the refused-route alerts).
    if (event.event === 'revoke') return;
    gatewayRequests.inc({ route: routeLabel(event.route), status: String(event.status ?? 0) });
    if (event.decision === 'allow' && UPLOAD_ROUTES.has(event.route ?? '') && event.bytes)
      uploadBytes.inc(event.bytes);
  };

  return {
    registry,
    contentType: registry.contentType,
    render: () => registry.metrics(),
    instrumentLogger: (logger) => ({
      log: (level, message, fields) => logger.log(level, message, fields),
      audit: (event) => {
        observeAudit(event);
        logger.audit(event);
      },
    }),
    instrumentStore: (store) => countStoreErrors(store, storeErrors),
    github,
    instrumentFetch: (fetcher) => timeUpstream(fetcher, upstreamDuration, upstreamErrors),
    instrumentKeySetFetch: (fetcher) => async (input, init) => {
      try {
        const response = await fetcher(input, init);
        jwksRefreshes.inc({ outcome: response.ok ? 'ok' : 'error' });
        if (response.ok) keySetAt = now();
        return response;
      } catch (error) {
        jwksRefreshes.inc({ outcome: 'error' });
        throw error;
      }
    },
    staleKeySetUsed: () => staleVerifications.inc(),
    uploadStarted: () => {
      uploadsInFlight.inc();
      return () => uploadsInFlight.dec();
    },
    configReloaded: (outcome) => reloads.inc({ outcome }),
    keySetLoadedAt: () => keySetAt,
  };
}
