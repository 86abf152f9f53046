/** Builds each upstream request fresh: the configured origin, allow-listed headers, the broker's token, no redirects. */
import { BrokerError } from '../errors.js';
import { concatBytes } from '../bytes.js';
import type { Pump } from './streams.js';

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

/** Answers up to this size with a known length are relayed as one buffer rather than a stream. */
const WHOLE_RELAY_BYTES = 1024 * 1024;

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
  fetch: UpstreamFetch;
  timeoutMs: number;
  userAgent: string;
}

/** An upstream answer read whole: the status, its media type and its (small) body. */
export interface WholeAnswer {
  status: number;
  contentType: string;
  body: Uint8Array;
  /** Every header of the answer (lower-case names), for relaying; a batch reads only contentType. */
  headers?: Readonly<Record<string, string | string[] | undefined>>;
}

/** An answer for the client, as plain values: what an adapter writes without a web Response. */
export interface PlainAnswer {
  status: number;
  headers: Record<string, string>;
  body: Uint8Array | string;
}

/** Raised by a `postWhole` whose deadline passed (a 504), as opposed to a failed connection (a 502). */
export class UpstreamTimeout extends Error {}

/**
 * One POST of a body already in memory, its answer read whole. The Node adapter's implementation
 * builds no Request, Headers or Response objects: per uploaded file of a batch those cost a third
 * of the broker's allocations (docs/benchmarks.md).
 */
export type PostWhole = (
  url: string,
  headers: Record<string, string>,
  body: readonly Uint8Array[],
  timeoutMs: number,
) => Promise<WholeAnswer>;

/**
 * One POST of a streamed body of `Content-Length` bytes, its (small) answer read whole, with plain
 * objects only: the per-file upload route's lean path (a `fetch`-shaped call builds a URL, Headers,
 * an AbortController, a Request-like init and a Response per file). The body is iterated, or, as a
 * `Pump` (streams.ts `pushedExactly`), handed the request to write into by events. The deadline
 * covers the whole exchange; a failing body destroys the request, and the promise rejects.
 */
export type PostStream = (
  url: string,
  headers: Record<string, string>,
  body: AsyncIterable<Uint8Array> | Pump,
  timeoutMs: number,
) => Promise<WholeAnswer>;

/**
 * The upstream fetch, with what the Node adapter adds: async-iterable request bodies taken as they
 * are (others get a ReadableStream), a lean `postWhole` for files the batch holds in memory, and a
 * lean `postStream` for a file streamed through.
 */
export type UpstreamFetch = typeof fetch & {
  acceptsAsyncIterable?: boolean;
  postWhole?: PostWhole;
  postStream?: PostStream;
};

const isAsyncIterable = (value: unknown): value is AsyncIterable<Uint8Array> =>
  typeof value === 'object' && value !== null && Symbol.asyncIterator in value;

function toBody(body: BodyInit | AsyncIterable<Uint8Array>, fetchImpl: UpstreamFetch): BodyInit {
  if (!isAsyncIterable(body) || body instanceof ReadableStream) return body as BodyInit;
  if (fetchImpl.acceptsAsyncIterable) return body as unknown as BodyInit;
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

const upstreamFailure = (timedOut: boolean) =>
  new BrokerError(
    timedOut ? 504 : 502,
    'upstream_error',
    timedOut ? 'Vercel did not answer in time; retry.' : 'Vercel could not be reached; retry.',
    { 'retry-after': '2' },
  );

const redirectRefused = (status: number) =>
  // Following a redirect would carry the upstream token to wherever it points.
  new BrokerError(502, 'upstream_error', `Vercel answered with a redirect (${status}); not followed.`);

/** The headers Vercel's `POST /v2/files` reads for one file: its type, SHA-1 (both spellings) and size. */
export const fileHeaders = (digest: string, size: number): Record<string, string> => ({
  'content-type': 'application/octet-stream',
  'x-vercel-digest': digest,
  'x-now-digest': digest,
  'x-now-size': String(size),
});

const uploadTimeoutMs = (upstream: Upstream, bytes: number) =>
  upstream.timeoutMs + bytes / UPLOAD_FLOOR_BYTES_PER_MS;

/**
 * One file the broker holds in memory (a batch frame, digest already checked) to `POST /v2/files`,
 * its small answer read whole: the same origin, team, token, headers and deadline as
 * `forwardToVercel`, through the platform's lean `postWhole` where it has one.
 */
export async function uploadToVercel(
  upstream: Upstream,
  teamId: string,
  digest: string,
  pieces: readonly Uint8Array[],
): Promise<WholeAnswer> {
  const size = pieces.reduce((n, p) => n + p.byteLength, 0);
  return postFile(upstream, teamId, digest, size, pieces, upstream.fetch.postWhole, () =>
    concatBytes(pieces),
  );
}

/**
 * One file streamed through to `POST /v2/files` (exactly `size` bytes: the caller counts them), its
 * small answer read whole, through the platform's lean `postStream` where it has one. A `Pump`
 * body needs that lean call (the caller checks `upstream.fetch.postStream`).
 */
export async function streamToVercel(
  upstream: Upstream,
  teamId: string,
  digest: string,
  size: number,
  body: AsyncIterable<Uint8Array> | Pump,
): Promise<WholeAnswer> {
  return postFile(upstream, teamId, digest, size, body, upstream.fetch.postStream, () => {
    if (typeof body === 'function') throw new Error('a pumped upload body needs the lean postStream');
    return size === 0 ? new Uint8Array() : body;
  });
}

/**
 * `POST /v2/files` of one file, its answer read whole: the same origin, team, token, headers,
 * deadline and redirect refusal as `forwardToVercel`, through the platform's lean call when it has
 * one (plain objects only), else through `forwardToVercel` with `webBody`.
 */
async function postFile<B>(
  upstream: Upstream,
  teamId: string,
  digest: string,
  size: number,
  body: B,
  lean:
    | ((url: string, headers: Record<string, string>, body: B, timeoutMs: number) => Promise<WholeAnswer>)
    | undefined,
  webBody: () => BodyInit | AsyncIterable<Uint8Array>,
): Promise<WholeAnswer> {
  if (!lean) {
    const response = await forwardToVercel(upstream, {
      method: 'POST',
      path: '/v2/files',
      query: new URLSearchParams(),
      teamId,
      headers: new Headers(fileHeaders(digest, size)),
      body: webBody(),
      contentLength: size,
    });
    return {
      status: response.status,
      contentType: response.headers.get('content-type') ?? '',
      headers: Object.fromEntries(response.headers),
      body: new Uint8Array(await response.arrayBuffer()),
    };
  }
  let answer: WholeAnswer;
  try {
    answer = await lean(
      `${upstream.baseUrl}/v2/files?teamId=${encodeURIComponent(teamId)}`,
      {
        ...fileHeaders(digest, size),
        'content-length': String(size),
        authorization: `Bearer ${upstream.token}`,
        'user-agent': upstream.userAgent,
      },
      body,
      uploadTimeoutMs(upstream, size),
    );
  } catch (error) {
    throw upstreamFailure(error instanceof UpstreamTimeout);
  }
  if (answer.status >= 300 && answer.status < 400) throw redirectRefused(answer.status);
  return answer;
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
  const timeoutMs = uploadTimeoutMs(upstream, request.contentLength ?? 0);
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
    throw upstreamFailure(controller.signal.aborted);
  } finally {
    clearTimeout(timer);
  }
  if (response.status >= 300 && response.status < 400) {
    await response.body?.cancel();
    throw redirectRefused(response.status);
  }
  return response;
}

const relayed = (name: string) =>
  RESPONSE_HEADERS.includes(name) || RESPONSE_HEADER_PREFIXES.some((p) => name.startsWith(p));

export function copyResponseHeaders(from: Headers): Headers {
  const headers = new Headers();
  for (const [name, value] of from) if (relayed(name)) headers.set(name, value);
  return headers;
}

/**
 * `relayResponse` for an answer read whole, as plain values: the same headers pass, and a non-JSON
 * error body is re-shaped the same way.
 */
export function relayWhole(answer: WholeAnswer): PlainAnswer {
  const headers: Record<string, string> = {};
  for (const [name, value] of Object.entries(answer.headers ?? { 'content-type': answer.contentType })) {
    // Headers.get's reading of a repeated header: its values joined with ", ".
    if (value !== undefined && relayed(name)) headers[name] = Array.isArray(value) ? value.join(', ') : value;
  }
  const ok = answer.status >= 200 && answer.status < 300;
  if (ok || answer.contentType.includes('application/json'))
    return { status: answer.status, headers, body: answer.body };
  const text = new TextDecoder().decode(answer.body).slice(0, 300);
  headers['content-type'] = 'application/json; charset=utf-8';
  const body = { error: { code: 'upstream_error', message: `Vercel answered ${answer.status}: ${text}` } };
  return { status: answer.status, headers, body: JSON.stringify(body) };
}

/**
 * Passes an upstream answer back. A non-JSON error body is re-shaped into Vercel's
 * `{"error":{code,message}}` so every client can read it; `Retry-After` survives.
 */
export async function relayResponse(response: Response): Promise<Response> {
  const headers = copyResponseHeaders(response.headers);
  if (response.ok || (response.headers.get('content-type') ?? '').includes('application/json')) {
    // A small answer of known length is relayed whole: the Node adapter then writes it in one go
    // with its length, where a relayed stream costs a header write, chunk framing and a web stream
    // per upload acknowledgement (docs/benchmarks.md).
    const length = Number(response.headers.get('content-length') ?? NaN);
    const body =
      response.body !== null && length <= WHOLE_RELAY_BYTES ? await response.arrayBuffer() : response.body;
    return new Response(body, { status: response.status, headers });
  }
  const text = (await response.text()).slice(0, 300);
  headers.set('content-type', 'application/json; charset=utf-8');
  const body = { error: { code: 'upstream_error', message: `Vercel answered ${response.status}: ${text}` } };
  return new Response(JSON.stringify(body), { status: response.status, headers });
}
