/** `POST /v1/files/batch`: Keyhole's batched upload, verified frame by frame and fanned out to Vercel's /v2/files. */
import {
  BATCH_CONTENT_TYPE,
  BATCH_FILES_HEADER,
  BATCH_FRAME_HEADER_BYTES,
  isErrorBody,
  type BatchCapability,
  type BatchFileResult,
  type BatchResponse,
} from '../../../shared/wire.js';
import { badRequest, BrokerError } from '../../errors.js';
import { answerJson, type GatewayResult, type ProjectContext } from '../context.js';
import { uploadToVercel, type WholeAnswer } from '../forward.js';
import {
  BATCH_FANOUT,
  batchCapability,
  FrameReader,
  holdFrame,
  tooLarge,
  type FrameHeader,
} from '../frames.js';
import { acquireSlot, bufferedShares } from '../fair-share.js';
import { budgetOwner, takeUploadQuota } from '../quota.js';

/**
 * Keyhole's batched upload: frames read one by one, each held in memory only once its size is
 * within the caps and the buffered-bytes budget, forwarded only once its digest matches its bytes
 * (no partial or mislabelled file ever reaches Vercel), at most BATCH_FANOUT at once, each under
 * the same in-flight slot and job quotas as a /v2/files upload. A framing or digest lie fails the
 * whole batch (400/413) after what was already forwarded settles; a quota or upstream refusal
 * fails only its file, reported per file so the client retries just those.
 */
export async function uploadBatch(ctx: ProjectContext): Promise<GatewayResult> {
  const { limits } = ctx.config;
  const capability = batchCapability(limits);
  const h = ctx.request.headers;
  if ((h.get('content-type') ?? '').split(';')[0]!.trim().toLowerCase() !== BATCH_CONTENT_TYPE)
    throw badRequest(`a batch is sent as Content-Type: ${BATCH_CONTENT_TYPE}`);
  const lengthHeader = h.get('content-length');
  if (lengthHeader === null || !/^[0-9]{1,16}$/.test(lengthHeader))
    throw badRequest('a batch needs a Content-Length; bodies without a length are refused');
  const length = Number(lengthHeader);
  if (length > capability.max_bytes)
    throw tooLarge(`a batch may have at most ${capability.max_bytes} bytes; this one declares ${length}`);
  const countHeader = h.get(BATCH_FILES_HEADER) ?? '';
  if (!/^[0-9]{1,6}$/.test(countHeader) || Number(countHeader) === 0)
    throw badRequest(`send the number of frames in ${BATCH_FILES_HEADER} (1 or more)`);
  const declared = Number(countHeader);
  if (declared > capability.max_files)
    throw tooLarge(`a batch may hold at most ${capability.max_files} files; this one declares ${declared}`);
  if (length < declared * BATCH_FRAME_HEADER_BYTES)
    throw badRequest(
      `${declared} frames need at least ${declared * BATCH_FRAME_HEADER_BYTES} bytes; Content-Length says ${length}`,
    );
  const source = ctx.nodeBody ?? (ctx.request.body as AsyncIterable<Uint8Array> | null);
  if (!source) throw badRequest('the batch has no body');
  const batchSlots = Math.max(1, Math.floor(limits.max_inflight_uploads / BATCH_FANOUT));
  const releaseBatch = await acquireSlot(ctx, 'batches', batchSlots);
  try {
    return await readBatch(ctx, source, length, declared, capability);
  } finally {
    releaseBatch();
  }
}

async function readBatch(
  ctx: ProjectContext,
  source: AsyncIterable<Uint8Array>,
  length: number,
  declared: number,
  capability: BatchCapability,
): Promise<GatewayResult> {
  const { buffered } = ctx.state;
  const reader = new FrameReader(source, ctx.sha1Hex);
  const shares = bufferedShares(ctx);
  const results: BatchFileResult[] = new Array(declared);
  const inFlight = new Set<Promise<void>>();
  let bytes = 0;
  try {
    for (let index = 0; index < declared; index++) {
      const frame = await reader.readHeader(index, capability.max_file_bytes);
      if (reader.position + frame.size > length)
        throw badRequest(
          `frame ${index} (${frame.sha}) declares ${frame.size} bytes, past the end of the ${length}-byte batch`,
        );
      // Back-pressure: the next file is read only when the fan-out has room for it.
      while (inFlight.size >= BATCH_FANOUT) await Promise.race(inFlight);
      buffered.take(frame.size, shares);
      let file: Uint8Array[];
      let held = frame.size;
      try {
        const kept = holdFrame(await reader.readFile(frame), frame.size);
        if (kept.held > frame.size) buffered.take(kept.held - frame.size, shares);
        held = kept.held;
        file = kept.pieces;
      } catch (error) {
        buffered.release(held, shares);
        throw error;
      }
      bytes += frame.size;
      const task = forwardFrame(ctx, results, frame, file, held).finally(() => inFlight.delete(task));
      inFlight.add(task);
    }
    if (!(await reader.atEnd()))
      throw badRequest(
        `the batch has bytes after its ${declared} declared frames; ${BATCH_FILES_HEADER} must count every frame`,
      );
  } catch (error) {
    await reader.release();
    // Files already forwarded were whole and verified; their outcome settles before the refusal.
    await Promise.allSettled(inFlight);
    throw error;
  }
  await Promise.all(inFlight);
  const failed = results.find((r) => r.status >= 300);
  return {
    response: answerJson(200, { files: results } satisfies BatchResponse),
    upstreamStatus: failed?.status ?? 200,
    bytes,
    files: declared,
  };
}

/**
 * Forwards one verified frame under an upload slot and the job's quotas, and writes its outcome
 * into `results`; `held` bytes of the buffered budget are given back once it settles.
 */
async function forwardFrame(
  ctx: ProjectContext,
  results: BatchFileResult[],
  frame: FrameHeader,
  file: Uint8Array[],
  held: number,
): Promise<void> {
  const { index, sha, size } = frame;
  let refund: (() => Promise<void>) | undefined;
  let release: (() => void) | undefined;
  try {
    release = await ctx.state.inflightUploads.acquire(
      budgetOwner(ctx.claims),
      ctx.config.limits.max_inflight_uploads,
    );
    refund = await takeUploadQuota(ctx, sha, size);
    const answer = await uploadToVercel(ctx.upstream, ctx.project.teamId, sha, file);
    if (answer.status >= 200 && answer.status < 300) {
      results[index] = { sha, status: answer.status };
      return;
    }
    await refund();
    const body = parseJson(answer);
    results[index] = {
      sha,
      status: answer.status,
      error: isErrorBody(body)
        ? { code: body.error.code, message: String(body.error.message).slice(0, 300) }
        : { code: 'upstream_error', message: `Vercel answered ${answer.status}` },
    };
  } catch (error) {
    if (refund) await refund().catch(() => undefined);
    const known = error instanceof BrokerError ? error : undefined;
    results[index] = {
      sha,
      status: known?.status ?? 502,
      error: {
        code: known?.code ?? 'upstream_error',
        message: known?.message ?? 'Vercel could not be reached; retry.',
      },
    };
  } finally {
    release?.();
    ctx.state.buffered.release(held, bufferedShares(ctx));
  }
}

/** An upstream error answer's JSON, if it is JSON. */
function parseJson(answer: WholeAnswer): unknown {
  if (!answer.contentType.includes('json')) return undefined;
  try {
    return JSON.parse(new TextDecoder().decode(answer.body));
  } catch {
    return undefined;
  }
}
