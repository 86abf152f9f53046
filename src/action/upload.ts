/** Uploads exactly the files Vercel lacks: small ones in batches when the broker offers them, with progress. */
import { deploymentsUploadFile } from '@vercel/sdk/funcs/deploymentsUploadFile.js';
import { BATCH_CONTENT_TYPE, BATCH_FILES_HEADER, type BatchResponse } from '../shared/wire.js';
import { BATCH_CONCURRENCY, batchRequestBody, encodeBatch, planBatches } from './batch.js';
import { DeployError, formatBytes, uploadStats, type UploadStats } from './deployment.js';
import type { DeployFile } from './files.js';
import { readLinkVerified, streamVerified } from './safe-fs.js';
import { RETRYABLE_STATUS, RetryableError, retryAfterMs, withRetry } from './retry.js';
import { describeError, unwrap, type DeployClient } from './vercel-client.js';

export async function uploadMissing(
  client: DeployClient,
  files: DeployFile[],
  missing: string[],
): Promise<UploadStats> {
  const { settings, deps } = client;
  const bySha = new Map(files.map((f) => [f.sha, f]));
  const todo = [...new Set(missing)].map((sha) => {
    const file = bySha.get(sha);
    if (!file) throw new DeployError(`the broker asked for a file this deploy does not contain (${sha})`);
    return file;
  });
  const totalBytes = todo.reduce((n, f) => n + f.size, 0);
  let doneBytes = 0;
  let doneFiles = 0;
  let lastReport = 0;
  deps.log.info(
    `Uploading ${todo.length} file(s), ${formatBytes(totalBytes)}; ${files.length - todo.length} already on Vercel`,
  );
  const done = (file: DeployFile) => {
    doneBytes += file.size;
    doneFiles += 1;
    if (deps.now() - lastReport > 2000 || doneFiles === todo.length) {
      lastReport = deps.now();
      deps.log.info(
        `  uploaded ${formatBytes(doneBytes)} of ${formatBytes(totalBytes)} (${doneFiles}/${todo.length} files)`,
      );
    }
  };
  const { batches, singles } = settings.batch
    ? planBatches(todo, settings.batch)
    : { batches: [], singles: todo };
  // Batches and large files share the credential's in-flight slots at the broker (max_inflight_uploads).
  const singleConcurrency = batches.length > 0 ? 8 : (deps.uploadConcurrency ?? 32);
  await Promise.all([
    mapLimit(batches, BATCH_CONCURRENCY, (batch) => uploadBatch(client, batch, done)),
    mapLimit(singles, singleConcurrency, async (file) => {
      await uploadFile(client, file);
      done(file);
    }),
  ]);
  return uploadStats(files, todo);
}

async function uploadFile({ core, deps }: DeployClient, file: DeployFile): Promise<void> {
  await withRetry(`upload ${file.file}`, deps.retry, async () => {
    // Opened and proved to be the listed file before a byte is sent (safe-fs.ts), every attempt.
    const requestBody = file.isSymlink
      ? new Uint8Array(readLinkVerified(file.absolute, file.identity, file.file))
      : file.size === 0
        ? new Uint8Array(0)
        : streamVerified(file.absolute, file.identity, file.size, file.file);
    const result = await deploymentsUploadFile(
      core,
      {
        contentLength: file.size,
        xVercelDigest: file.sha,
        xNowDigest: file.sha,
        xNowSize: file.size,
        requestBody,
      },
      { fetchOptions: { signal: deps.signal } },
    );
    unwrap(`upload ${file.file}`, result);
  });
}

/**
 * One batch to the broker; a retry resends only the files the answer did not confirm, so a
 * refused file (429, 5xx) costs one small request, not the batch.
 */
async function uploadBatch(
  { settings, deps, auth }: DeployClient,
  batch: DeployFile[],
  done: (file: DeployFile) => void,
): Promise<void> {
  const url = `${settings.brokerUrl}${settings.batch!.path}`;
  let pending = batch;
  await withRetry(`upload a batch of ${batch.length} files`, deps.retry, async () => {
    const { body, length } = batchRequestBody(encodeBatch(pending));
    let response: Response;
    try {
      response = await deps.fetch(url, {
        method: 'POST',
        headers: {
          ...auth,
          'content-type': BATCH_CONTENT_TYPE,
          'content-length': String(length),
          accept: 'application/json',
          [BATCH_FILES_HEADER]: String(pending.length),
        },
        body,
        duplex: 'half',
        signal: deps.signal,
      } as RequestInit);
    } catch (error) {
      throw new RetryableError(
        `upload batch: network error: ${error instanceof Error ? ((error.cause as Error | undefined)?.message ?? error.message) : String(error)}`,
      );
    }
    if (RETRYABLE_STATUS.has(response.status)) {
      await response.body?.cancel();
      throw new RetryableError(
        `upload batch: HTTP ${response.status}`,
        retryAfterMs(response.headers.get('retry-after')),
      );
    }
    const answer = (await response.json().catch(() => undefined)) as unknown;
    if (!response.ok)
      throw new DeployError(`uploading a batch of files failed: ${describeError(response.status, answer)}`);
    const results = (answer as Partial<BatchResponse> | undefined)?.files;
    if (!Array.isArray(results) || results.length !== pending.length)
      throw new DeployError('the broker answered a batch upload without one result per file');
    const failed: DeployFile[] = [];
    results.forEach((result, i) => {
      const file = pending[i]!;
      if (result.status < 300) done(file);
      else if (RETRYABLE_STATUS.has(result.status)) failed.push(file);
      else
        throw new DeployError(
          `upload ${file.file} failed: ${result.status} ${result.error?.code ?? ''}: ${result.error?.message ?? ''}`,
        );
    });
    if (failed.length > 0) {
      pending = failed;
      throw new RetryableError(`upload batch: ${failed.length} of ${results.length} file(s) to retry`);
    }
  });
}

/** Runs `fn` over `items` with at most `limit` calls in flight. */
async function mapLimit<T, R>(
  items: readonly T[],
  limit: number,
  fn: (item: T, index: number) => Promise<R>,
): Promise<R[]> {
  const results = new Array<R>(items.length);
  let next = 0;
  const workers = Array.from({ length: Math.min(limit, items.length) }, async () => {
    while (next < items.length) {
      const index = next++;
      results[index] = await fn(items[index]!, index);
    }
  });
  await Promise.all(workers);
  return results;
}
