/** Builds each upstream request fresh: the configured origin, allow-listed headers, the broker's token, no redirects. */
import { BrokerError } from '../errors.js';

/** Client headers that may travel upstream; authorization, cookies, host and hop-by-hop headers never do. */
const REQUEST_HEADERS = [
  'accept',
  'content-type',
  'content-length',
  'x-vercel-digest',
  'x-now-digest',
  'x-now-size',
];
/** Upstream headers a Vercel client reads; everything else (set-cookie, hop-by-hop, internal ids) stays here. */
const RESPONSE_HEADERS = [
  'content-type',
  'retry-after',
  'x-ratelimit-limit',
  'x-ratelimit-remaining',
  'x-ratelimit-reset',
];
const RESPONSE_HEADER_PREFIXES = ['x-vercel-warning-', 'x-vercel-notice-', 'x-vercel-tip-'];

/** Uploads get extra time at a pessimistic 1 MB/s on top of the base timeout. */
const UPLOAD_FLOOR_BYTES_PER_MS = 1000;

export interface UpstreamRequest {
  method: string;
  path: string;
  query: URLSearchParams;
  teamId: string;
  headers?: Headers;
  body?: BodyInit | AsyncIterable<Uint8Array> | null;
  /** Set for streamed bodies so undici sends a fixed-length request, not chunked. */
  contentLength?: number;
}

export interface Upstream {
  baseUrl: string;
  token: string;
  fetch: typeof fetch;
  timeoutMs: number;
  userAgent: string;
}

/** A fetch that takes async-iterable bodies as they are (nodeFetch); others get a ReadableStream. */
export interface IterableBodyFetch {
  acceptsAsyncIterable?: boolean;
}

const isAsyncIterable = (value: unknown): value is AsyncIterable<Uint8Array> =>
  typeof value === 'object' && value !== null && Symbol.asyncIterator in value;

function toBody(body: BodyInit | AsyncIterable<Uint8Array>, fetchImpl: typeof fetch): BodyInit {
  if (!isAsyncIterable(body) || body instanceof ReadableStream) return body as BodyInit;
  if ((fetchImpl as IterableBodyFetch).acceptsAsyncIterable) return body as unknown as BodyInit;
  const iterator = body[Symbol.asyncIterator]();
  return new ReadableStream<Uint8Array>({
    async pull(controller) {
      const { done, value } = await iterator.next();
      if (done) controller.close();
      else controller.enqueue(value);
    },
    async cancel(reason) {
      await iterator.return?.(reason);
    },
  });
}

export async function forwardToVercel(upstream: Upstream, request: UpstreamRequest): Promise<Response> {
  const url = new URL(upstream.baseUrl + request.path);
  for (const [key, value] of request.query) url.searchParams.set(key, value);
  url.searchParams.set('teamId', request.teamId);
  const headers = new Headers();
  for (const name of REQUEST_HEADERS) {
    const value = request.headers?.get(name);
    if (value !== null && value !== undefined) headers.set(name, value);
  }
  if (request.contentLength !== undefined) headers.set('content-length', String(request.contentLength));
  headers.set('authorization', `Bearer ${upstream.token}`);
  headers.set('user-agent', upstream.userAgent);
  // The timeout covers the wait for Vercel's answer (and the upload before it), never the
  // answer's body: a build-log stream may follow a long build.
  const controller = new AbortController();
  const timeoutMs = upstream.timeoutMs + (request.contentLength ?? 0) / UPLOAD_FLOOR_BYTES_PER_MS;
  const timer = setTimeout(
    () => controller.abort(new DOMException('upstream timeout', 'TimeoutError')),
    timeoutMs,
  );
  const init: RequestInit & { duplex?: 'half' } = {
    method: request.method,
    headers,
    redirect: 'manual',
    signal: controller.signal,
  };
  if (request.body !== undefined && request.body !== null) {
    init.body = toBody(request.body, upstream.fetch);
    if (init.body instanceof ReadableStream || isAsyncIterable(init.body)) init.duplex = 'half';
  }
  let response: Response;
  try {
    response = await upstream.fetch(url, init);
  } catch {
    const timedOut = controller.signal.aborted;
    throw new BrokerError(
      timedOut ? 504 : 502,
      'upstream_error',
      timedOut ? 'Vercel did not answer in time; retry.' : 'Vercel could not be reached; retry.',
      { 'retry-after': '2' },
    );
  } finally {
    clearTimeout(timer);
  }
  if (response.status >= 300 && response.status < 400) {
    // Following a redirect would carry the upstream token to wherever it points.
    await response.body?.cancel();
    throw new BrokerError(
      502,
      'upstream_error',
      `Vercel answered with a redirect (${response.status}); not followed.`,
    );
  }
  return response;
}

export function copyResponseHeaders(from: Headers): Headers {
  const headers = new Headers();
  for (const [name, value] of from) {
    if (RESPONSE_HEADERS.includes(name) || RESPONSE_HEADER_PREFIXES.some((p) => name.startsWith(p))) {
      headers.set(name, value);
    }
  }
  return headers;
}

/**
 * Passes an upstream answer back. A non-JSON error body is re-shaped into Vercel's
 * `{"error":{code,message}}` so every client can read it; `Retry-After` survives.
 */
export async function relayResponse(response: Response): Promise<Response> {
  const headers = copyResponseHeaders(response.headers);
  if (response.ok || (response.headers.get('content-type') ?? '').includes('application/json')) {
    return new Response(response.body, { status: response.status, headers });
  }
  const text = (await response.text()).slice(0, 300);
  headers.set('content-type', 'application/json; charset=utf-8');
  const body = { error: { code: 'upstream_error', message: `Vercel answered ${response.status}: ${text}` } };
  return new Response(JSON.stringify(body), { status: response.status, headers });
}
