/**
 * `rollback: <id | url | previous>`: production points back at an earlier production deployment the
 * broker made, and the step waits until it serves, the way `vercel rollback` does: request, then
 * poll the project's `lastAliasRequest` (rollbackInfo=true).
 */
import { isErrorBody } from '../shared/wire.js';
import type { Credential } from './credential.js';
import type { Deployment } from './deployment.js';
import { fetchRetrying, pauseBeforePoll, type RetryPolicy } from './retry.js';
import type { Step } from './step.js';

export interface RollbackSettings {
  brokerUrl: string;
  credential: string;
  projectId: string;
  /** A deployment id (dpl_…), its host name, or `previous`. */
  deployment: string;
  timeoutMs: number;
}

export interface RollbackDeps {
  fetch: typeof fetch;
  retry: RetryPolicy;
  log: { info(line: string): void };
  now: () => number;
  signal: AbortSignal;
  pollIntervalMs?: number;
}

interface AliasJob {
  fromDeploymentId?: string | null;
  toDeploymentId?: string;
  jobStatus?: string;
  type?: string;
}

const describe = (status: number, body: unknown) =>
  isErrorBody(body) ? `${body.error.code}: ${body.error.message}` : `HTTP ${status}`;

export async function rollbackProduction(
  settings: RollbackSettings,
  deps: RollbackDeps,
): Promise<{ deployment: Deployment; from?: string }> {
  const call = async (what: string, path: string, init: RequestInit = {}) => {
    const response = await fetchRetrying(deps.fetch, what, deps.retry, `${settings.brokerUrl}${path}`, {
      ...init,
      headers: {
        authorization: `Bearer ${settings.credential}`,
        accept: 'application/json',
        ...(init.headers as Record<string, string> | undefined),
      },
      signal: deps.signal,
    });
    const text = await response.text();
    let body: unknown;
    try {
      body = text ? JSON.parse(text) : undefined;
    } catch {
      body = undefined;
    }
    return { status: response.status, ok: response.ok, body };
  };

  deps.log.info(`Rolling production back to ${settings.deployment}`);
  const requested = await call(
    'requesting the rollback',
    `/v9/projects/${settings.projectId}/rollback/${settings.deployment}`,
    { method: 'POST', headers: { 'content-type': 'application/json' }, body: '{}' },
  );
  // 409: a retried request whose first attempt already went through; the poll below decides.
  if (!requested.ok && requested.status !== 409)
    throw new Error(`the rollback was refused (${describe(requested.status, requested.body)})`);

  const deadline = deps.now() + settings.timeoutMs;
  let interval = deps.pollIntervalMs ?? 1000;
  for (;;) {
    const project = await call(
      'reading the rollback status',
      `/v9/projects/${settings.projectId}?rollbackInfo=true`,
    );
    const job = (project.ok ? (project.body as { lastAliasRequest?: AliasJob | null }) : {}).lastAliasRequest;
    const ours =
      job?.type === 'rollback' &&
      typeof job.toDeploymentId === 'string' &&
      (settings.deployment === 'previous' ||
        !settings.deployment.startsWith('dpl_') ||
        job.toDeploymentId === settings.deployment);
    if (ours && job.jobStatus === 'succeeded') {
      const read = await call('reading the deployment', `/v13/deployments/${job.toDeploymentId}`);
      const deployment = (
        read.ok ? read.body : { id: job.toDeploymentId, url: '', readyState: 'READY' }
      ) as Deployment;
      return { deployment, ...(job.fromDeploymentId ? { from: job.fromDeploymentId } : {}) };
    }
    if (ours && (job.jobStatus === 'failed' || job.jobStatus === 'skipped'))
      throw new Error(
        `Vercel reports the rollback to ${job.toDeploymentId} ${job.jobStatus}; see the project's domains in the dashboard`,
      );
    if (deps.signal.aborted) throw new Error('the job was cancelled');
    if (deps.now() >= deadline)
      throw new Error(
        'production was not rolled back within the timeout; the rollback may still finish on Vercel',
      );
    interval = await pauseBeforePoll(deps.now, deadline, interval);
  }
}

/** The `rollback` step of a run: rolls back instead of deploying, and reports where production points. */
export async function runRollback(step: Step, deployment: string, credential: Credential): Promise<void> {
  const { deps, settings, record } = step;
  const { exchanged, gatewayFetch } = credential;
  const done = await step.phase('rollback', () =>
    rollbackProduction(
      {
        brokerUrl: settings.brokerUrl,
        credential: exchanged.credential,
        projectId: exchanged.project.id,
        deployment,
        timeoutMs: settings.timeoutMs,
      },
      { fetch: gatewayFetch, retry: deps.retry, log: deps.core, now: deps.now, signal: deps.signal },
    ),
  );
  record.report.deployment = done.deployment;
  record.report.production = 'rolled back';
  deps.core.info(
    `Production rolled back${done.from ? ` from ${done.from}` : ''} to ${done.deployment.id}: https://${done.deployment.url}`,
  );
}
