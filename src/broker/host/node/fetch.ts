/**
 * A `fetch` for the Node adapter built on node:http(s): streamed request bodies are piped with
 * real back-pressure, and sockets to the upstream are kept alive. Measured:
 * undici's fetch retained ~2× the upload size when forwarding a streamed body (docs/benchmarks.md).
 * It implements exactly what the gateway's forwarder uses; serverless platforms use their own fetch.
 */
import {
  Agent as HttpAgent,
  request as httpRequest,
  type ClientRequest,
  type IncomingMessage,
} from 'node:http';
import { Agent as HttpsAgent, request as httpsRequest } from 'node:https';
import { Readable } from 'node:stream';
import type { ReadableStream as NodeReadableStream } from 'node:stream/web';
import { UpstreamTimeout, type UpstreamFetch, type WholeAnswer } from '../../gateway/forward.js';
import type { PieceSink, Pump } from '../../gateway/streams.js';

/**
 * Body pieces the Node server received into buffers of their own (server.ts `ownedPieces`): Node's
 * HTTP parser copies each piece of a request body into a new buffer. `postStream` frees such a
 * buffer as soon as the upstream socket has taken it, rather than at the next scavenge: a 1 GB
 * upload otherwise kept 16–21 MB of written pieces alive (docs/benchmarks.md, "The second session
 * of round 3").
 */
export const ownedBodyPieces = new WeakSet<Uint8Array>();

/** `write`'s callback for `piece`: frees its memory (an owned piece, on a Node with `transfer`). */
const freeWhenWritten = (piece: Uint8Array) =>
  ownedBodyPieces.has(piece)
    ? () => (piece.buffer as ArrayBuffer & { transfer?: (length: number) => ArrayBuffer }).transfer?.(0)
    : undefined;

/** Answers up to this size with a Content-Length are collected here and handed over as one buffer. */
const BUFFER_LIMIT = 1024 * 1024;
/** What `postWhole` keeps of an answer (an upload acknowledgement is a few hundred bytes). */
const WHOLE_ANSWER_LIMIT = 64 * 1024;

function toHeaders(res: IncomingMessage): Headers {
  const headers = new Headers();
  for (const [name, value] of Object.entries(res.headers)) {
    if (Array.isArray(value)) for (const v of value) headers.append(name, v);
    else if (value !== undefined) headers.set(name, value);
  }
  return headers;
}

/**
 * Small answers (upload acknowledgements, deployment JSON) skip the web-stream wrapper the caller
 * would only read back at once, and carry their length so the gateway relays them whole; streams
 * without a length (build logs) stay streams. A JSON answer without a length (chunked) is collected
 * too, and handed over as a stream of what came and what follows if it outgrows BUFFER_LIMIT.
 */
function respond(
  res: IncomingMessage,
  method: string,
  resolve: (response: Response) => void,
  reject: (error: Error) => void,
): void {
  const status = res.statusCode ?? 502;
  const init = { status, statusText: res.statusMessage ?? '', headers: toHeaders(res) };
  if (method === 'HEAD' || status === 204 || status === 304) {
    res.resume();
    resolve(new Response(null, init));
    return;
  }
  const length = Number(res.headers['content-length'] ?? NaN);
  const json = /^application\/json\b/i.test(res.headers['content-type'] ?? '');
  if (!(length <= BUFFER_LIMIT) && !(Number.isNaN(length) && json)) {
    resolve(new Response(Readable.toWeb(res) as ReadableStream<Uint8Array>, init));
    return;
  }
  const chunks: Buffer[] = [];
  let size = 0;
  const onData = (chunk: Buffer) => {
    chunks.push(chunk);
    size += chunk.byteLength;
    if (size <= BUFFER_LIMIT) return;
    res.off('data', onData);
    res.off('end', onEnd);
    res.pause();
    res.unshift(Buffer.concat(chunks));
    resolve(new Response(Readable.toWeb(res) as ReadableStream<Uint8Array>, init));
  };
  const onEnd = () => {
    const body = chunks.length === 1 ? chunks[0]! : Buffer.concat(chunks);
    init.headers.set('content-length', String(body.byteLength));
    resolve(
      new Response(
        new Uint8Array(body.buffer, body.byteOffset, body.byteLength) as Uint8Array<ArrayBuffer>,
        init,
      ),
    );
  };
  res.on('data', onData);
  res.once('end', onEnd);
  res.once('error', reject);
}

/**
 * A fetch with its own keep-alive socket pool of `maxSockets` per origin; requests past it queue
 * in order. The gateway gives each project one (`createPooledFetch`), so one project's traffic
 * can fill only its own pool and never another project's.
 */
export function createNodeFetch(maxSockets: number): UpstreamFetch {
  const httpAgent = new HttpAgent({ keepAlive: true, maxSockets });
  const httpsAgent = new HttpsAgent({ keepAlive: true, maxSockets });
  const fetchImpl = ((input: string | URL | Request, init: RequestInit = {}) =>
    send(input, init, httpAgent, httpsAgent)) as UpstreamFetch;
  fetchImpl.acceptsAsyncIterable = true;
  const agents = { http: httpAgent, https: httpsAgent };
  fetchImpl.postWhole = (url, headers, body, timeoutMs) => postWhole(url, headers, body, timeoutMs, agents);
  fetchImpl.postStream = (url, headers, body, timeoutMs) => postStream(url, headers, body, timeoutMs, agents);
  return fetchImpl;
}

/** One `createNodeFetch` per key (a project), each with `maxSockets`. */
export function createPooledFetch(maxSockets: number): (key: string) => UpstreamFetch {
  const pools = new Map<string, UpstreamFetch>();
  return (key) => {
    let pool = pools.get(key);
    if (!pool) pools.set(key, (pool = createNodeFetch(maxSockets)));
    return pool;
  };
}

export const nodeFetch = createNodeFetch(128);

/**
 * The issuer key set's fetch: node:http(s) like the upstream calls, on its own small pool. Node's
 * global fetch (undici) compiles its WebAssembly HTTP parser on first use, which took the broker's
 * peak RSS up by 10–15 MB at the first exchange (docs/benchmarks.md); nothing else needs it.
 */
export const keySetFetch: typeof fetch = createNodeFetch(4);

const send = (
  input: string | URL | Request,
  init: RequestInit,
  httpAgent: HttpAgent,
  httpsAgent: HttpsAgent,
) =>
  new Promise<Response>((resolve, reject) => {
    // fetch's contract: a network failure is a TypeError with the cause, an abort the signal's reason.
    const fail = (error: Error) =>
      reject(init.signal?.aborted ? init.signal.reason : new TypeError('fetch failed', { cause: error }));
    const url = new URL(input instanceof Request ? input.url : input.toString());
    const method = init.method ?? 'GET';
    const secure = url.protocol === 'https:';
    const req = (secure ? httpsRequest : httpRequest)(
      url,
      {
        method,
        headers: Object.fromEntries(new Headers(init.headers)),
        agent: secure ? httpsAgent : httpAgent,
        ...(init.signal ? { signal: init.signal } : {}),
      },
      (res) => respond(res, method, resolve, fail),
    );
    req.once('error', fail);
    const body = init.body;
    if (body === undefined || body === null) req.end();
    else if (typeof body === 'string' || body instanceof Uint8Array) req.end(body);
    else if (body instanceof ReadableStream || Symbol.asyncIterator in (body as object)) {
      const source =
        body instanceof ReadableStream
          ? Readable.fromWeb(body as NodeReadableStream)
          : Readable.from(body as unknown as AsyncIterable<Uint8Array>, { objectMode: false });
      // pipe() rather than pipeline(): pipeline builds an AbortController and a DOMException per
      // call, measurable per upload; errors are forwarded by hand instead.
      source.once('error', (error) => req.destroy(error));
      source.pipe(req);
    } else {
      req.destroy();
      reject(new TypeError('nodeFetch: unsupported body type'));
    }
  });

type Agents = { http: HttpAgent; https: HttpsAgent };

/**
 * Where a lean POST goes, parsed once per URL (a project's few upstream URLs): `http.request(url)`
 * would parse the string and build its options on every call.
 */
const targets = new Map<string, { secure: boolean; hostname: string; port: string; path: string }>();
function targetOf(url: string) {
  let target = targets.get(url);
  if (!target) {
    const parsed = new URL(url);
    target = {
      secure: parsed.protocol === 'https:',
      // An IPv6 literal without its brackets, as node:http wants it.
      hostname: parsed.hostname.replace(/^\[(.*)\]$/, '$1'),
      port: parsed.port,
      path: parsed.pathname + parsed.search,
    };
    if (targets.size >= 256) targets.clear();
    targets.set(url, target);
  }
  return target;
}

/**
 * A POST on the pooled sockets, its answer read whole (up to WHOLE_ANSWER_LIMIT kept), with plain
 * objects only: `send` writes the body. The deadline covers the whole exchange; a timed-out or
 * failed request is destroyed.
 */
const postPlain = (
  url: string,
  headers: Record<string, string>,
  timeoutMs: number,
  agents: Agents,
  send: (req: ClientRequest, fail: (error: Error) => void) => void,
) =>
  new Promise<WholeAnswer>((resolve, reject) => {
    const { secure, hostname, port, path } = targetOf(url);
    let req: ClientRequest | undefined = undefined;
    let settled = false;
    const fail = (error: Error) => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      req?.destroy();
      reject(error);
    };
    const timer = setTimeout(() => fail(new UpstreamTimeout('upstream timeout')), timeoutMs);
    req = (secure ? httpsRequest : httpRequest)(
      {
        method: 'POST',
        hostname,
        port,
        path,
        headers,
        agent: secure ? agents.https : agents.http,
      },
      (res) => {
        const chunks: Buffer[] = [];
        let kept = 0;
        res.on('data', (chunk: Buffer) => {
          if (kept >= WHOLE_ANSWER_LIMIT) return;
          chunks.push(chunk);
          kept += chunk.byteLength;
        });
        res.once('error', fail);
        res.once('end', () => {
          if (settled) return;
          settled = true;
          clearTimeout(timer);
          const whole = chunks.length === 1 ? chunks[0]! : Buffer.concat(chunks);
          resolve({
            status: res.statusCode ?? 502,
            contentType: res.headers['content-type'] ?? '',
            headers: res.headers,
            body: whole.subarray(0, WHOLE_ANSWER_LIMIT),
          });
        });
      },
    );
    req.once('error', fail);
    send(req, fail);
  });

/** A POST of in-memory pieces: corked, so the headers and the pieces leave in one write. */
const postWhole = (
  url: string,
  headers: Record<string, string>,
  body: readonly Uint8Array[],
  timeoutMs: number,
  agents: Agents,
) =>
  postPlain(url, headers, timeoutMs, agents, (req) => {
    req.cork();
    for (const piece of body) req.write(piece);
    req.end();
  });

/** Calls `resume` once, when a request can take more (or is gone). */
function onDrain(req: ClientRequest, resume: () => void): void {
  const done = () => {
    req.off('drain', done);
    req.off('close', done);
    resume();
  };
  req.on('drain', done);
  req.on('close', done);
}

/** The upstream request as a pumped body's sink: the server's own pieces are freed once written. */
const sinkOf = (req: ClientRequest, fail: (error: Error) => void): PieceSink => ({
  write: (piece) => req.write(piece, freeWhenWritten(piece)),
  end: () => req.end(),
  fail,
  onDrain: (resume) => onDrain(req, resume),
  get gone() {
    return req.destroyed;
  },
});

/**
 * A POST of a streamed body with back-pressure (no Readable.from or pipe per file): a `Pump` writes
 * into the request by events; an iterable body is pumped here by hand. An error of the body (a
 * length the gateway refuses) fails the request.
 */
const postStream = (
  url: string,
  headers: Record<string, string>,
  body: AsyncIterable<Uint8Array> | Pump,
  timeoutMs: number,
  agents: Agents,
) =>
  postPlain(url, headers, timeoutMs, agents, (req, fail) => {
    if (typeof body === 'function') return body(sinkOf(req, fail));
    const pump = async () => {
      // Iterated by hand: when the upstream request fails, the body is left where it stopped (as
      // a pipe would leave it) rather than returned, which would destroy the client's request
      // before the gateway can answer it.
      const iterator = body[Symbol.asyncIterator]();
      for (let next = await iterator.next(); !next.done; next = await iterator.next()) {
        if (req.destroyed) return;
        if (!req.write(next.value, freeWhenWritten(next.value)))
          await new Promise<void>((resume) => onDrain(req, resume));
      }
      if (!req.destroyed) req.end();
    };
    pump().catch((error: unknown) => fail(error instanceof Error ? error : new Error(String(error))));
  });
