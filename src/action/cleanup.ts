/**
 * `cleanup: true` (a `pull_request: closed` job): removes this branch's preview aliases and deletes
 * its preview deployments. The broker lists only what it stamped for this job's ref and refuses
 * anything else; any deletion that fails makes the step fail, naming what is left.
 */
import { isErrorBody } from '../shared/wire.js';
import type { Credential } from './credential.js';
import { fetchRetrying, type RetryPolicy } from './retry.js';
import type { Step } from './step.js';

/** Pages of 100 read at most: far more previews than one pull request makes. */
const MAX_PAGES = 50;

export interface CleanupSettings {
  brokerUrl: string;
  credential: string;
  projectId: string;
}

export interface CleanupDeps {
  fetch: typeof fetch;
  retry: RetryPolicy;
  log: { info(line: string): void };
  signal: AbortSignal;
}

export interface CleanupResult {
  deployments: string[];
  aliases: string[];
  /** What could not be removed, each with Keyhole's or Vercel's reason. */
  failures: string[];
}

interface Listed {
  uid: string;
  url?: string;
  keyholeAliases?: string[];
}

const describe = (status: number, body: unknown) =>
  isErrorBody(body) ? `${body.error.code}: ${body.error.message}` : `HTTP ${status}`;

export async function cleanupPreviews(settings: CleanupSettings, deps: CleanupDeps): Promise<CleanupResult> {
  const call = async (what: string, path: string, method = 'GET') => {
    const response = await fetchRetrying(deps.fetch, what, deps.retry, `${settings.brokerUrl}${path}`, {
      method,
      headers: { authorization: `Bearer ${settings.credential}`, accept: 'application/json' },
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

  const found: Listed[] = [];
  let until: number | undefined;
  for (let page = 0; page < MAX_PAGES; page++) {
    const query = new URLSearchParams({ projectId: settings.projectId, limit: '100' });
    if (until !== undefined) query.set('until', String(until));
    const listing = await call('listing this branch’s previews', `/v6/deployments?${query}`);
    if (!listing.ok)
      throw new Error(
        `the broker did not list this branch's previews (${describe(listing.status, listing.body)})`,
      );
    const body = listing.body as { deployments?: Listed[]; pagination?: { next?: unknown } };
    found.push(...(body.deployments ?? []));
    if (typeof body.pagination?.next !== 'number') break;
    until = body.pagination.next;
  }

  const result: CleanupResult = { deployments: [], aliases: [], failures: [] };
  // Aliases first: a name must never be left pointing at nothing while its deployment goes.
  for (const alias of new Set(found.flatMap((d) => d.keyholeAliases ?? []))) {
    const removed = await call(`removing the alias ${alias}`, `/v2/aliases/${alias}`, 'DELETE');
    if (removed.ok) {
      result.aliases.push(alias);
      deps.log.info(`Removed the alias ${alias}`);
    } else result.failures.push(`alias ${alias}: ${describe(removed.status, removed.body)}`);
  }
  for (const deployment of found) {
    const deleted = await call(`deleting ${deployment.uid}`, `/v13/deployments/${deployment.uid}`, 'DELETE');
    // Gone already (a retry, another clean-up run): nothing is left to remove.
    if (deleted.ok || deleted.status === 404) {
      result.deployments.push(deployment.uid);
      deps.log.info(`Deleted the preview ${deployment.uid}${deployment.url ? ` (${deployment.url})` : ''}`);
    } else result.failures.push(`deployment ${deployment.uid}: ${describe(deleted.status, deleted.body)}`);
  }
  return result;
}

/** The clean-up step of a run: reports what went, and fails naming what is left. */
export async function runCleanup(step: Step, credential: Credential): Promise<void> {
  const { deps, settings, record } = step;
  const { exchanged, gatewayFetch } = credential;
  const result = await step.phase('cleanup', () =>
    cleanupPreviews(
      { brokerUrl: settings.brokerUrl, credential: exchanged.credential, projectId: exchanged.project.id },
      { fetch: gatewayFetch, retry: deps.retry, log: deps.core, signal: deps.signal },
    ),
  );
  record.report.cleanup = { deployments: result.deployments, aliases: result.aliases };
  deps.core.setOutput('deleted-deployments', result.deployments.join(','));
  deps.core.setOutput('removed-aliases', result.aliases.join(','));
  if (result.failures.length > 0)
    throw new Error(
      `the clean-up is partial: ${result.failures.length} item(s) were not removed:\n${result.failures.join('\n')}`,
    );
  deps.core.info(
    result.deployments.length + result.aliases.length === 0
      ? 'Nothing to clean up: no preview of this branch was made through Keyhole.'
      : `Cleaned up ${result.deployments.length} preview deployment(s) and ${result.aliases.length} alias(es).`,
  );
}
