/** `POST /v2/files`: one file, its digest and size checked, streamed to Vercel under the job's quotas. */
import { badRequest, BrokerError } from '../../errors.js';
import type { GatewayResult, ProjectContext } from '../context.js';
import { fileHeaders, forwardToVercel, relayResponse } from '../forward.js';
import { acquireSlot } from '../fair-share.js';
import { takeUploadQuota } from '../quota.js';
import { exactly, startOfBody } from '../streams.js';

export async function uploadFile(ctx: ProjectContext): Promise<GatewayResult> {
  const h = ctx.request.headers;
  const digests = [h.get('x-vercel-digest'), h.get('x-now-digest')].filter((d): d is string => d !== null);
  if (digests.length === 0) throw badRequest('send the file SHA-1 in x-vercel-digest or x-now-digest');
  const digest = digests[0]!.toLowerCase();
  if (!/^[0-9a-f]{40}$/.test(digest) || digests.some((d) => d.toLowerCase() !== digest)) {
    throw badRequest('the digest header must be one SHA-1 in 40 hex digits');
  }
  const lengths = [h.get('content-length'), h.get('x-now-size')].filter((v): v is string => v !== null);
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
    return await forwardUpload(ctx, digest, size);
  } finally {
    release();
  }
}

async function forwardUpload(ctx: ProjectContext, digest: string, size: number): Promise<GatewayResult> {
  const refund = await takeUploadQuota(ctx, digest, size);
  // Streamed straight through (the Node adapter hands over its own stream, skipping two web
  // stream conversions): memory stays flat whatever the size; a body longer or shorter than
  // declared aborts the upstream request instead of storing a truncated file.
  const source = ctx.nodeBody ?? (ctx.request.body as AsyncIterable<Uint8Array> | null);
  // fetch implementations re-wrap a failing body's error; the gateway keeps its own verdict.
  let bodyError: BrokerError | undefined;
  // The upstream request (and its pooled socket) starts only once the body does: a client that
  // declares a size and sends nothing holds no upstream socket (the adapter's body deadline ends it).
  const headers = new Headers(fileHeaders(digest, size));
  try {
    const started = source && size > 0 ? await startOfBody(source) : source;
    const counted = started ? exactly(started, size, (error) => (bodyError = error)) : undefined;
    const response = await forwardToVercel(ctx.upstream, {
      method: 'POST',
      path: '/v2/files',
      query: new URLSearchParams(),
      teamId: ctx.project.teamId,
      headers,
      body: size === 0 ? new Uint8Array() : (counted ?? new Uint8Array()),
      contentLength: size,
    });
    if (!response.ok) await refund();
    return { response: await relayResponse(response), bytes: size };
  } catch (error) {
    await refund().catch(() => undefined);
    throw bodyError ?? error;
  }
}
