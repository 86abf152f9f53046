/** `POST /v2/files`: one file, its digest and size checked, streamed to Vercel under the job's quotas. */
import { badRequest, BrokerError } from '../../errors.js';
import type { GatewayResult, ProjectContext } from '../context.js';
import { relayWhole, streamToVercel, type PlainAnswer } from '../forward.js';
import { acquireSlot } from '../fair-share.js';
import { takeUploadQuota } from '../quota.js';
import { exactly, isPushBody, pushedExactly, startOfBody } from '../streams.js';

/** What an upload needs of its call: header values (as `Headers.get` reads them) and the body. */
export interface UploadCall {
  header(name: string): string | null;
  body: AsyncIterable<Uint8Array> | null | undefined;
}

/** What the upload route needs of a project call: everything but the web Request and route. */
export type UploadContext = Omit<ProjectContext, 'request' | 'route' | 'nodeBody'>;

export async function uploadFile(ctx: ProjectContext): Promise<GatewayResult> {
  const h = ctx.request.headers;
  const call = {
    header: (name: string) => h.get(name),
    body: ctx.nodeBody ?? (ctx.request.body as AsyncIterable<Uint8Array> | null),
  };
  const { answer, bytes } = await uploadOne(ctx, call);
  return {
    response: new Response(answer.body as BodyInit, { status: answer.status, headers: answer.headers }),
    bytes,
  };
}

/**
 * The whole upload, for the web handler above and for adapters that skip web Request/Response
 * objects (the Node adapter's lean path, app.ts `upload`): one body of checks for both.
 */
export async function uploadOne(
  ctx: UploadContext,
  call: UploadCall,
): Promise<{ answer: PlainAnswer; bytes: number }> {
  const digests = [call.header('x-vercel-digest'), call.header('x-now-digest')].filter(
    (d): d is string => d !== null,
  );
  if (digests.length === 0) throw badRequest('send the file SHA-1 in x-vercel-digest or x-now-digest');
  const digest = digests[0]!.toLowerCase();
  if (!/^[0-9a-f]{40}$/.test(digest) || digests.some((d) => d.toLowerCase() !== digest)) {
    throw badRequest('the digest header must be one SHA-1 in 40 hex digits');
  }
  const lengths = [call.header('content-length'), call.header('x-now-size')].filter(
    (v): v is string => v !== null,
  );
  if (lengths.length === 0)
    throw badRequest(
      'send the file size in Content-Length or x-now-size; bodies without a length are refused',
    );
  const size = Number(lengths[0]);
  if (!/^[0-9]+$/.test(lengths[0]!) || lengths.some((l) => Number(l) !== size)) {
    throw badRequest('Content-Length and x-now-size must be one non-negative integer');
  }
  const { limits } = ctx.config;
  if (size > limits.max_file_bytes)
    throw new BrokerError(413, 'payload_too_large', `a file may have at most ${limits.max_file_bytes} bytes`);
  const release = await acquireSlot(ctx, 'uploads', limits.max_inflight_uploads);
  try {
    return { answer: await forwardUpload(ctx, digest, size, call.body ?? null), bytes: size };
  } finally {
    release();
  }
}

/** An empty body: a declared size of 0 reads nothing, and a missing body counts as none. */
const NO_BYTES: AsyncIterable<Uint8Array> = { [Symbol.asyncIterator]: async function* () {} };

async function forwardUpload(
  ctx: UploadContext,
  digest: string,
  size: number,
  source: AsyncIterable<Uint8Array> | null,
): Promise<PlainAnswer> {
  const refund = await takeUploadQuota(ctx, digest, size);
  // Streamed straight through (the Node adapter hands over its own stream, skipping two web
  // stream conversions): memory stays flat whatever the size; a body longer or shorter than
  // declared aborts the upstream request instead of storing a truncated file.
  // fetch implementations re-wrap a failing body's error; the gateway keeps its own verdict.
  let bodyError: BrokerError | undefined;
  try {
    // The upstream request (and its pooled socket) starts only once the body does: a client that
    // declares a size and sends nothing holds no upstream socket (the adapter's body deadline ends it).
    // A body the platform pushes (the Node adapter's request) moves by events, with no promise per
    // piece; any other is iterated through the same two checks.
    const onMismatch = (error: BrokerError) => (bodyError = error);
    const pushed = size > 0 && isPushBody(source) && ctx.upstream.fetch.postStream !== undefined;
    const counted = pushed
      ? await pushedExactly(source, size, onMismatch)
      : exactly(source && size > 0 ? await startOfBody(source) : NO_BYTES, size, onMismatch);
    const answer = await streamToVercel(ctx.upstream, ctx.project.teamId, digest, size, counted);
    if (answer.status < 200 || answer.status >= 300) await refund();
    return relayWhole(answer);
  } catch (error) {
    await refund().catch(() => undefined);
    throw bodyError ?? error;
  }
}
