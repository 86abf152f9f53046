/** The deploy: create → missing_files → upload exactly those → create again → follow the build to its end. */
import { openAsBlob } from 'node:fs';
import { readFile, readlink } from 'node:fs/promises';
import path from 'node:path';
import { VercelCore } from '@vercel/sdk/core.js';
import { deploymentsCancelDeployment } from '@vercel/sdk/funcs/deploymentsCancelDeployment.js';
import { deploymentsGetDeployment } from '@vercel/sdk/funcs/deploymentsGetDeployment.js';
import { deploymentsUploadFile } from '@vercel/sdk/funcs/deploymentsUploadFile.js';
import { HTTPClient } from '@vercel/sdk/lib/http.js';
import { ResponseValidationError } from '@vercel/sdk/models/responsevalidationerror.js';
import { VercelError } from '@vercel/sdk/models/vercelerror.js';
import { HTTPClientError } from '@vercel/sdk/models/httpclienterrors.js';
import {
  BATCH_CONTENT_TYPE,
  BATCH_FILES_HEADER,
  isErrorBody,
  type BatchCapability,
  type BatchResponse,
} from '../shared/wire.js';
import { BATCH_CONCURRENCY, batchRequestBody, encodeBatch, planBatches } from './batch.js';
import type { DeployFile } from './files.js';
import {
  fetchRetrying,
  RETRYABLE_STATUS,
  RetryableError,
  retryAfterMs,
  withRetry,
  type RetryPolicy,
} from './retry.js';

export type ReadyState = 'QUEUED' | 'INITIALIZING' | 'BUILDING' | 'READY' | 'ERROR' | 'CANCELED' | string;

export interface Deployment {
  id: string;
  url: string;
  inspectorUrl?: string | null;
  readyState: ReadyState;
  aliasAssigned?: boolean | number | null;
  errorMessage?: string | null;
}

export interface DeployLog {
  info(line: string): void;
  warning(line: string): void;
  startGroup(name: string): void;
  endGroup(): void;
}

export interface DeployTarget {
  brokerUrl: string;
  credential: string;
  target: string;
  prebuilt: boolean;
  /** The broker's batched upload, from the exchange answer; absent (an older broker): one request per file. */
  batch?: BatchCapability;
}

export interface DeployDeps {
  fetch: typeof fetch;
  retry: RetryPolicy;
  log: DeployLog;
  signal: AbortSignal;
  now: () => number;
  uploadConcurrency?: number;
  pollIntervalMs?: number;
}

export interface UploadStats {
  uploaded: number;
  reused: number;
  uploadedBytes: number;
  totalBytes: number;
}

export class DeployError extends Error {
  readonly deployment: Deployment | undefined;
  constructor(message: string, deployment?: Deployment) {
    super(message);
    this.name = 'DeployError';
    this.deployment = deployment;
  }
}

const TERMINAL = new Set(['READY', 'ERROR', 'CANCELED']);
const MB = 1024 * 1024;

function describeError(status: number, body: unknown): string {
  if (isErrorBody(body)) return `${status} ${body.error.code}: ${body.error.message}`;
  return `HTTP ${status}`;
}

/** Prebuilt deploys check what `vercel build` left behind, as the official CLI does before uploading. */
export async function checkBuildOutput(root: string, target: string): Promise<void> {
  const file = path.join(root, '.vercel', 'output', 'builds.json');
  let builds: { error?: { message?: string }; target?: string };
  try {
    builds = JSON.parse(await readFile(file, 'utf8')) as typeof builds;
  } catch {
    throw new DeployError(
      `.vercel/output/builds.json is missing or unreadable in ${root}; run "vercel build${target === 'production' ? ' --prod' : ''}" before deploying with prebuilt: true`,
    );
  }
  if (builds.error)
    throw new DeployError(
      `the prebuilt output records a failed build: ${builds.error.message ?? 'unknown error'}; fix the build and run "vercel build" again`,
    );
  const builtFor = builds.target ?? 'preview';
  if ((builtFor === 'production') !== (target === 'production')) {
    throw new DeployError(
      `the prebuilt output was built for ${builtFor}, but target is ${target}; run "vercel build${target === 'production' ? ' --prod' : ''}" for this target`,
    );
  }
}

export function createDeployer(settings: DeployTarget, deps: DeployDeps) {
  const core = new VercelCore({
    bearerToken: settings.credential,
    serverURL: settings.brokerUrl,
    httpClient: new HTTPClient({ fetcher: (input, init) => deps.fetch(input, init) }),
  });
  const auth = { authorization: `Bearer ${settings.credential}` };

  /** SDK results become values, retryable errors or a DeployError with the broker's own words. */
  function unwrap<T>(what: string, result: { ok: true; value: T } | { ok: false; error: unknown }): T {
    if (result.ok) return result.value;
    const error = result.error;
    // A 2xx answer whose shape the SDK's schema does not know (a newer API, an emulator) is still
    // an answer: the fields the action reads are checked where they are used.
    if (
      error instanceof ResponseValidationError &&
      error.statusCode < 300 &&
      typeof error.rawValue === 'object' &&
      error.rawValue !== null
    ) {
      return error.rawValue as T;
    }
    if (error instanceof VercelError) {
      if (RETRYABLE_STATUS.has(error.statusCode))
        throw new RetryableError(
          `${what}: HTTP ${error.statusCode}`,
          retryAfterMs(error.headers.get('retry-after')),
        );
      let body: unknown;
      try {
        body = JSON.parse(error.body);
      } catch {
        body = undefined;
      }
      throw new DeployError(`${what} failed: ${describeError(error.statusCode, body)}`);
    }
    if (error instanceof HTTPClientError) throw new RetryableError(`${what}: ${error.message}`);
    throw new DeployError(`${what} failed: ${error instanceof Error ? error.message : String(error)}`);
  }

  async function create(body: string): Promise<{ deployment?: Deployment; missing?: string[] }> {
    const query = new URLSearchParams({ skipAutoDetectionConfirmation: '1' });
    if (settings.prebuilt) query.set('prebuilt', '1');
    // Plain fetch: @vercel/sdk's createDeployment strips files[].mode (research/vercel.md §4).
    const response = await fetchRetrying(
      deps.fetch,
      'create deployment',
      deps.retry,
      `${settings.brokerUrl}/v13/deployments?${query}`,
      {
        method: 'POST',
        headers: { ...auth, 'content-type': 'application/json', accept: 'application/json' },
        body,
        signal: deps.signal,
      },
    );
    const json = (await response.json().catch(() => undefined)) as unknown;
    if (response.status === 400 && isErrorBody(json) && json.error.code === 'missing_files') {
      return { missing: (json.error.missing as string[] | undefined) ?? [] };
    }
    if (!response.ok)
      throw new DeployError(`creating the deployment failed: ${describeError(response.status, json)}`);
    return { deployment: json as Deployment };
  }

  async function upload(file: DeployFile): Promise<void> {
    await withRetry(`upload ${file.file}`, deps.retry, async () => {
      const requestBody = file.isSymlink
        ? new Uint8Array(Buffer.from(await readlink(file.absolute)))
        : file.size === 0
          ? new Uint8Array(0)
          : await openAsBlob(file.absolute);
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
  async function uploadBatch(batch: DeployFile[], done: (file: DeployFile) => void): Promise<void> {
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

  async function uploadMissing(files: DeployFile[], missing: string[]): Promise<UploadStats> {
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
      `Uploading ${todo.length} file(s), ${(totalBytes / MB).toFixed(1)} MB; ${files.length - todo.length} already on Vercel`,
    );
    const done = (file: DeployFile) => {
      doneBytes += file.size;
      doneFiles += 1;
      if (deps.now() - lastReport > 2000 || doneFiles === todo.length) {
        lastReport = deps.now();
        deps.log.info(
          `  uploaded ${(doneBytes / MB).toFixed(1)} of ${(totalBytes / MB).toFixed(1)} MB (${doneFiles}/${todo.length} files)`,
        );
      }
    };
    const { batches, singles } = settings.batch
      ? planBatches(todo, settings.batch)
      : { batches: [], singles: todo };
    // Batches and large files share the credential's in-flight slots at the broker (max_inflight_uploads).
    const singleConcurrency = batches.length > 0 ? 8 : (deps.uploadConcurrency ?? 32);
    await Promise.all([
      mapLimit(batches, BATCH_CONCURRENCY, (batch) => uploadBatch(batch, done)),
      mapLimit(singles, singleConcurrency, async (file) => {
        await upload(file);
        done(file);
      }),
    ]);
    return uploadStats(files, todo);
  }

  async function get(id: string): Promise<Deployment> {
    return withRetry('read deployment', deps.retry, async () => {
      const result = await deploymentsGetDeployment(
        core,
        { idOrUrl: id },
        { fetchOptions: { signal: deps.signal } },
      );
      return unwrap('reading the deployment', result) as unknown as Deployment;
    });
  }

  /** Prints the build log as it streams; returns when the stream ends (or fails: polling takes over). */
  async function followEvents(id: string, signal: AbortSignal): Promise<void> {
    const query = new URLSearchParams({ direction: 'forward', follow: '1', format: 'lines' });
    let response: Response;
    try {
      response = await deps.fetch(`${settings.brokerUrl}/v3/deployments/${id}/events?${query}`, {
        headers: auth,
        signal,
      });
    } catch {
      return;
    }
    if (!response.ok || !response.body) {
      await response.body?.cancel();
      return;
    }
    const decoder = new TextDecoder();
    let buffered = '';
    const reader = response.body.getReader();
    try {
      for (;;) {
        const { done, value } = await reader.read();
        if (done) return;
        buffered += decoder.decode(value, { stream: true });
        let newline: number;
        while ((newline = buffered.indexOf('\n')) !== -1) {
          const line = buffered.slice(0, newline).trim();
          buffered = buffered.slice(newline + 1);
          if (!line) continue;
          try {
            const event = JSON.parse(line) as { type?: string; text?: string; created?: number };
            // Lines without `created` are keep-alives (Vercel CLI util/logs.ts).
            if (event.text && event.created !== undefined) deps.log.info(event.text);
            if (event.type === 'alias-assigned') {
              await reader.cancel();
              return;
            }
          } catch {
            // Not JSON: a partial or foreign line is skipped, not fatal.
          }
        }
      }
    } catch {
      // Stream broken: polling finishes the job.
    }
  }

  async function wait(initial: Deployment, timeoutMs: number): Promise<Deployment> {
    const deadline = deps.now() + timeoutMs;
    let deployment = initial;
    const streamAbort = new AbortController();
    const onAbort = () => streamAbort.abort();
    deps.signal.addEventListener('abort', onAbort, { once: true });
    deps.log.startGroup(`Build log of ${deployment.id}`);
    try {
      if (!TERMINAL.has(deployment.readyState)) {
        const timer = setTimeout(() => streamAbort.abort(), Math.max(0, deadline - deps.now()));
        await followEvents(deployment.id, streamAbort.signal);
        clearTimeout(timer);
      }
      let interval = deps.pollIntervalMs ?? 1000;
      for (;;) {
        if (deps.signal.aborted) throw new DeployError('the job was cancelled', deployment);
        deployment = await get(deployment.id);
        const done =
          deployment.readyState === 'READY'
            ? Boolean(deployment.aliasAssigned)
            : TERMINAL.has(deployment.readyState);
        if (done) return deployment;
        if (deps.now() >= deadline)
          throw new DeployError(
            `the deployment is still ${deployment.readyState} after the timeout`,
            deployment,
          );
        await new Promise((resolve) =>
          setTimeout(resolve, Math.min(interval, Math.max(0, deadline - deps.now()))),
        );
        interval = Math.min(interval * 1.5, 5000);
      }
    } finally {
      deps.log.endGroup();
      deps.signal.removeEventListener('abort', onAbort);
      streamAbort.abort();
    }
  }

  async function cancel(id: string): Promise<void> {
    const result = await deploymentsCancelDeployment(core, { id });
    if (!result.ok) deps.log.warning(`could not cancel deployment ${id}: ${String(result.error)}`);
  }

  return { create, uploadMissing, wait, cancel };
}

/** What a deploy uploaded against what Vercel already had (by content: identical files count once). */
export function uploadStats(files: DeployFile[], uploaded: DeployFile[]): UploadStats {
  return {
    uploaded: uploaded.length,
    reused: new Set(files.map((f) => f.sha)).size - uploaded.length,
    uploadedBytes: uploaded.reduce((n, f) => n + f.size, 0),
    totalBytes: files.reduce((n, f) => n + f.size, 0),
  };
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

export function deploymentBody(
  files: DeployFile[],
  project: { id: string; name: string },
  target: string,
  meta: Record<string, string> = {},
  options: { stage?: boolean } = {},
): string {
  return JSON.stringify({
    name: project.name,
    project: project.id,
    ...(target === 'production'
      ? // Staged: built for production, domains left where they are until a promote (the CLI's --skip-domain).
        { target: 'production', ...(options.stage ? { autoAssignCustomDomains: false } : {}) }
      : target === 'preview'
        ? {}
        : { customEnvironmentSlugOrId: target }),
    version: 2,
    meta,
    files: files.map((f) => ({ file: f.file, sha: f.sha, size: f.size, mode: f.mode })),
  });
}
