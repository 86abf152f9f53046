/**
 * Which project a host name is configured on in the pinned team, before an alias takes it: a domain
 * added to another project but not yet assigned to any deployment is that project's, and the alias
 * check must not hand it to this one. Every answer Vercel does not give fails closed (502).
 */
import { BrokerError, forbidden } from '../errors.js';
import type { GatewayProject } from './context.js';
import { forwardToVercel, type Upstream } from './forward.js';

const MAX_PAGES = 20;

const unverifiable = (what: string) =>
  new BrokerError(502, 'upstream_error', `Vercel did not answer ${what}; the alias was not assigned. Retry.`);

/** Every item of a paginated Vercel list (`pagination.next`), or 502 when any page fails. */
async function listAll<T>(
  upstream: Upstream,
  project: GatewayProject,
  path: string,
  key: string,
  what: string,
) {
  const items: T[] = [];
  let until: string | undefined;
  for (let page = 0; page < MAX_PAGES; page++) {
    const query = new URLSearchParams({ limit: '100', ...(until ? { until } : {}) });
    const response = await forwardToVercel(upstream, { method: 'GET', path, query, teamId: project.teamId });
    if (!response.ok) {
      await response.body?.cancel();
      throw unverifiable(what);
    }
    const body = (await response.json()) as Record<string, unknown> & { pagination?: { next?: unknown } };
    const list = body[key];
    if (!Array.isArray(list)) throw unverifiable(what);
    items.push(...(list as T[]));
    const next = body.pagination?.next;
    if (typeof next !== 'number' && typeof next !== 'string') return items;
    until = String(next);
  }
  throw unverifiable(`${what} in full`);
}

/** A configured domain covers a name when it is the name, or a wildcard `*.parent` one label above it. */
function covers(domain: string, alias: string): boolean {
  const name = domain.toLowerCase();
  if (name === alias) return true;
  return name.startsWith('*.') && alias.slice(alias.indexOf('.') + 1) === name.slice(2);
}

/**
 * Refuses (403, naming the project) an alias configured, exactly or by a wildcard, on another project
 * of the pinned team; the pinned project's own wildcard is its own. The name's team domain is found
 * in the team's domains (GET /v5/domains, the longest that contains it), then every project domain
 * under it (GET /v1/domains/:apex/project-domains). A name under no team domain (e.g. *.vercel.app)
 * cannot be configured on a project of the team without being its domain, so nothing more is asked.
 */
export async function checkConfiguredElsewhere(
  alias: string,
  project: GatewayProject,
  upstream: Upstream,
): Promise<void> {
  const domains = await listAll<{ name?: unknown }>(
    upstream,
    project,
    '/v5/domains',
    'domains',
    'which domains the team has',
  );
  const apex = domains
    .map((d) => (typeof d.name === 'string' ? d.name.toLowerCase() : ''))
    .filter((name) => name !== '' && (alias === name || alias.endsWith(`.${name}`)))
    .sort((a, b) => b.length - a.length)[0];
  if (!apex) return;
  const configured = await listAll<{ name?: unknown; projectId?: unknown }>(
    upstream,
    project,
    `/v1/domains/${encodeURIComponent(apex)}/project-domains`,
    'projectDomains',
    `which projects the domains under ${apex} are configured on`,
  );
  for (const domain of configured) {
    if (typeof domain.name !== 'string' || !covers(domain.name, alias)) continue;
    if (domain.projectId === project.projectId) continue;
    const owner = typeof domain.projectId === 'string' ? domain.projectId.slice(0, 64) : 'unknown';
    throw forbidden(
      `alias ${alias} is configured on another project (${owner}, as ${domain.name.slice(0, 253)}); a deploy of ${project.name} may not take it`,
    );
  }
}
