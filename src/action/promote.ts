/**
 * `promote`: points production at a deployment staged earlier (`stage: true`) and waits until it
 * serves, the way `vercel promote` does: request, then poll the project's `lastAliasRequest`.
 */
import { isErrorBody } from '../shared/wire.js';
import type { Credential } from './credential.js';
import type { Deployment } from './deployment.js';
import { fetchRetrying, pauseBeforePoll, type RetryPolicy } from './retry.js';
import type { Step } from './step.js';

export interface PromoteSettings {
  brokerUrl: string;
  credential: string;
  projectId: string;
  /** A deployment id (dpl_…) or its host name. */
  deployment: string;
  timeoutMs: number;
}

export interface PromoteDeps {
  fetch: typeof fetch;
  retry: RetryPolicy;
  log: { info(line: string): void };
  now: () => number;
  signal: AbortSignal;
  pollIntervalMs?: number;
}

export class PromoteError extends Error {
  readonly deployment: Deployment | undefined;
  constructor(message: string, deployment?: Deployment) {
    super(message);
    this.name = 'PromoteError';
    this.deployment = deployment;
  }
}

interface ProjectState {
  targets?: { production?: { id?: string } };
  lastAliasRequest?: { toDeploymentId?: string; jobStatus?: string } | null;
}

/** Accepts `dpl_…`, a host name or an https URL (what `deployment-url` outputs); returns the id or host. */
export function parseDeploymentRef(value: string): string | undefined {
  const text = value.trim();
  if (/^dpl_[A-Za-z0-9]{1,64}$/.test(text)) return text;
  let host = text;
  if (/^https?:\/\//i.test(text)) {
    try {
      const url = new URL(text);
      if ((url.pathname !== '/' && url.pathname !== '') || url.search || url.hash) return undefined;
      host = url.hostname;
    } catch {
      return undefined;
    }
  }
  host = host.toLowerCase();
  return /^[a-z0-9](?:[a-z0-9-]{0,62})(?:\.[a-z0-9](?:[a-z0-9-]{0,62}))+$/.test(host) ? host : undefined;
}

const describe = (status: number, body: unknown) =>
  isErrorBody(body) ? `${body.error.code}: ${body.error.message}` : `HTTP ${status}`;

export async function promoteDeployment(settings: PromoteSettings, deps: PromoteDeps): Promise<Deployment> {
  const auth = { authorization: `Bearer ${settings.credential}`, accept: 'application/json' };
  const call = async (what: string, path: string, init: RequestInit = {}) => {
    const response = await fetchRetrying(deps.fetch, what, deps.retry, `${settings.brokerUrl}${path}`, {
      ...init,
      headers: { ...auth, ...(init.headers as Record<string, string> | undefined) },
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

  const found = await call('reading the deployment', `/v13/deployments/${settings.deployment}`);
  if (!found.ok)
    throw new PromoteError(
      `the deployment ${settings.deployment} to promote cannot be read (${describe(found.status, found.body)}); pass the deployment-id output of the job that staged it`,
    );
  const deployment = found.body as Deployment;
  deps.log.info(`Promoting ${deployment.id} (https://${deployment.url}) to production`);

  const requested = await call('promoting', `/v10/projects/${settings.projectId}/promote/${deployment.id}`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: '{}',
  });
  // 409: a retried request whose first attempt already went through; the poll below decides.
  if (!requested.ok && requested.status !== 409)
    throw new PromoteError(
      `the promotion was refused (${describe(requested.status, requested.body)})`,
      deployment,
    );
  if (requested.status === 202)
    deps.log.info('Vercel queued the promotion behind the running rolling release; waiting for it.');

  const deadline = deps.now() + settings.timeoutMs;
  let interval = deps.pollIntervalMs ?? 1000;
  for (;;) {
    const project = await call('reading the project', `/v9/projects/${settings.projectId}`);
    const state = (project.ok ? project.body : {}) as ProjectState;
    const job = state.lastAliasRequest;
    if (state.targets?.production?.id === deployment.id) return { ...deployment, readyState: 'READY' };
    if (job?.toDeploymentId === deployment.id && job.jobStatus === 'succeeded')
      return { ...deployment, readyState: 'READY' };
    if (job?.toDeploymentId === deployment.id && (job.jobStatus === 'failed' || job.jobStatus === 'skipped'))
      throw new PromoteError(
        `Vercel reports the promotion ${job.jobStatus}; production still serves the previous deployment. See the project's domains in the dashboard`,
        deployment,
      );
    if (deps.signal.aborted) throw new PromoteError('the job was cancelled', deployment);
    if (deps.now() >= deadline)
      throw new PromoteError(
        `production does not point at ${deployment.id} after the timeout; the promotion may still finish on Vercel`,
        deployment,
      );
    interval = await pauseBeforePoll(deps.now, deadline, interval);
  }
}

/** The `promote` step of a run: promotes instead of deploying, and reports the promoted deployment. */
export async function runPromote(step: Step, deployment: string, credential: Credential): Promise<void> {
  const { deps, settings, record } = step;
  const { exchanged, gatewayFetch } = credential;
  const promoted = await step.phase('promote', () =>
    promoteDeployment(
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
  record.report.deployment = promoted;
  record.report.production = 'promoted';
  deps.core.info(`Production now serves ${promoted.id}: https://${promoted.url}`);
}
