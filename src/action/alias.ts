/** The stable preview alias: the `alias` template rendered for this run, and its assignment through the gateway. */
import { createHash } from 'node:crypto';
import { isErrorBody } from '../shared/wire.js';
import { fetchRetrying, type RetryPolicy } from './retry.js';

export interface AliasValues {
  project: string;
  /** The pull request number, when the run is for one. */
  pr?: number;
  /** The branch the code came from (the pull request's head branch, or the pushed branch). */
  branch?: string;
  /** The full commit SHA deployed. */
  sha?: string;
}

export class AliasError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'AliasError';
  }
}

/** Longest `{branch}` slug; longer branch names keep a prefix and a hash of the full name. */
export const BRANCH_SLUG_MAX = 40;

/**
 * A branch name as one DNS label: lower-case a-z0-9 and single hyphens. Long names are cut and given
 * a hash of the full name, so two long branches with the same prefix still get different aliases
 * and the same branch always gets the same one.
 */
export function slugifyBranch(branch: string): string {
  const slug = branch
    .toLowerCase()
    .replace(/[^a-z0-9]+/g, '-')
    .replace(/^-+|-+$/g, '');
  if (slug.length <= BRANCH_SLUG_MAX && slug !== '') return slug;
  const hash = createHash('sha256').update(branch).digest('hex').slice(0, 6);
  const head = slug.slice(0, BRANCH_SLUG_MAX - hash.length - 1).replace(/-+$/, '');
  return head ? `${head}-${hash}` : hash;
}

const PLACEHOLDER = /\{([a-z]+)\}/g;

/** Renders the template; a placeholder this run has no value for, or a result that is no host name, is an error. */
export function renderAlias(template: string, values: AliasValues): string {
  const rendered = template.trim().replace(PLACEHOLDER, (whole, name: string) => {
    switch (name) {
      case 'project':
        return slugifyBranch(values.project);
      case 'sha':
        if (!values.sha) throw new AliasError('the alias uses {sha} but the run has no commit SHA');
        return values.sha.slice(0, 7).toLowerCase();
      case 'branch':
        if (!values.branch) throw new AliasError('the alias uses {branch} but the run has no branch');
        return slugifyBranch(values.branch);
      case 'pr':
        if (values.pr === undefined)
          throw new AliasError(
            "the alias uses {pr} but this run is not for a pull request; set alias only on pull request runs, e.g. alias: ${{ github.event_name == 'pull_request' && 'pr-{pr}.preview.example.com' || '' }}, or use {branch}",
          );
        return String(values.pr);
      default:
        throw new AliasError(`${whole} is not a placeholder; use {pr}, {branch}, {sha} or {project}`);
    }
  });
  const alias = rendered.toLowerCase();
  const labels = alias.split('.');
  const bad = labels.find((label) => !/^[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?$/.test(label));
  if (labels.length < 2 || bad !== undefined) {
    throw new AliasError(
      `"${alias}" is not a host name${bad !== undefined && bad.length > 63 ? ` (the label "${bad}" has ${bad.length} characters; at most 63)` : ''}; write a template such as pr-{pr}.preview.example.com`,
    );
  }
  return alias;
}

/** Assigns `alias` to the deployment through the broker; the broker decides whether the project's patterns allow it. */
export async function assignAlias(
  brokerUrl: string,
  credential: string,
  deploymentId: string,
  alias: string,
  deps: { fetch: typeof fetch; retry: RetryPolicy },
): Promise<string> {
  const response = await fetchRetrying(
    deps.fetch,
    'alias',
    deps.retry,
    `${brokerUrl}/v2/deployments/${encodeURIComponent(deploymentId)}/aliases`,
    {
      method: 'POST',
      headers: { authorization: `Bearer ${credential}`, 'content-type': 'application/json' },
      body: JSON.stringify({ alias }),
    },
  );
  const body: unknown = await response.json().catch(() => undefined);
  if (!response.ok) {
    const reason = isErrorBody(body)
      ? `${body.error.code}: ${body.error.message}`
      : `HTTP ${response.status}`;
    throw new AliasError(
      `The alias ${alias} was not assigned (${response.status} ${reason}). The project's preview_aliases in the broker config decide which names a preview may take.`,
    );
  }
  return `https://${alias}`;
}
