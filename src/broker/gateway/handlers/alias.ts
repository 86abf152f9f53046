/**
 * `POST /v2/deployments/:id/aliases`: a preview (or custom environment) credential gives a deployment
 * it created a stable name from the project's `preview_aliases` (or that environment's
 * `custom_environment_aliases`). Every static rule is checked before any upstream call.
 */
import type { CredentialClaims } from '../../credential/credential.js';
import { BrokerError, forbidden } from '../../errors.js';
import { readLimitedText } from '../../http.js';
import { normalizeAlias } from '../../hostname.js';
import { storeKeys, type ReplayStore } from '../../store/store.js';
import type { GatewayProject, GatewayResult, ProjectContext } from '../context.js';
import { checkConfiguredElsewhere } from '../domain-owner.js';
import { forwardToVercel, relayResponse, type Upstream } from '../forward.js';
import { checkTargetReach, ownedDeployment } from '../ownership.js';

const MAX_ALIAS_BODY = 4096;
const MAX_DOMAIN_PAGES = 20;

/** The record a create leaves behind: which credential made the deployment, for which target. */
export interface CreatedRecord {
  cid: string;
  tgt: string;
}

/** Remembers who created a deployment (the create answer is the proof), as long as the credential lives. */
export async function recordCreated(
  store: ReplayStore,
  response: Response,
  claims: CredentialClaims,
  ttlMs: number,
): Promise<void> {
  if (!response.ok) return;
  const { id } = (await response.clone().json()) as { id?: unknown };
  if (typeof id !== 'string') return;
  const record: CreatedRecord = { cid: claims.cid, tgt: claims.tgt };
  await store.put(storeKeys.created(id), JSON.stringify(record), ttlMs);
}

/** Reads and checks `{alias}`: the one field Keyhole forwards (no `redirect`, which points elsewhere). */
async function readAlias(request: Request): Promise<string> {
  const text = await readLimitedText(request, MAX_ALIAS_BODY);
  let body: unknown;
  try {
    body = JSON.parse(text);
  } catch {
    throw forbidden('the alias body must be JSON: {"alias": "<host name>"}');
  }
  if (typeof body !== 'object' || body === null || Array.isArray(body))
    throw forbidden('the alias body must be a JSON object: {"alias": "<host name>"}');
  for (const key of Object.keys(body)) {
    if (key !== 'alias') throw forbidden(`field ${key} is not allowed; send only {"alias": "<host name>"}`);
  }
  const normalized = normalizeAlias((body as { alias?: unknown }).alias);
  if ('error' in normalized) throw forbidden(normalized.error);
  return normalized.alias;
}

/** The alias patterns of the credential's target and the setting that holds them; production has none. */
function aliasPatternsFor(project: GatewayProject, target: string) {
  if (target === 'preview') return { patterns: project.previewAliases, setting: 'preview_aliases' };
  if (target !== 'production' && project.customEnvironments.includes(target)) {
    return {
      patterns: project.customEnvironmentAliases.get(target) ?? [],
      setting: `custom_environment_aliases.${target}`,
    };
  }
  throw forbidden(
    `aliases are assigned only with a preview or custom environment credential (this one deploys to ${target}); production domains come from the project's settings`,
  );
}

export async function assignAlias(ctx: ProjectContext): Promise<GatewayResult> {
  const { claims, project, upstream } = ctx;
  const deploymentId = ctx.route.param!;
  const { patterns, setting } = aliasPatternsFor(project, claims.tgt);
  if (patterns.length === 0) {
    throw forbidden(
      `project ${project.name} has no ${setting} in the broker config; ask its admin to add a pattern such as "*.preview.example.com"`,
    );
  }
  const alias = await readAlias(ctx.request);
  if (!patterns.some((p) => p.match(alias))) {
    throw forbidden(
      `alias ${alias} does not match project ${project.name}'s ${setting} (${patterns.map((p) => p.pattern).join(', ')})`,
    );
  }
  const recorded = await ctx.store.get(storeKeys.created(deploymentId));
  const record = recorded ? (JSON.parse(recorded) as CreatedRecord) : undefined;
  if (!record || record.cid !== claims.cid || record.tgt !== claims.tgt) {
    throw forbidden(
      `deployment ${deploymentId} was not created by this credential; a credential may alias only the deployment it created`,
    );
  }

  // Upstream reads, each failing closed: the deployment is the pinned project's, of the credential's
  // own target, the alias is none of the project's domains (production ones included), no other
  // project has it configured (even unassigned), and no other project's deployment holds it.
  const owned = await ownedDeployment(ctx, deploymentId);
  if (!owned.body) return { response: owned.response };
  if (owned.body.target === 'production') {
    throw forbidden(`deployment ${deploymentId} is a production deployment; aliases are for previews`);
  }
  checkTargetReach(owned.body, claims, `POST ${ctx.route.path}`, true);
  const domains = await projectDomains(project, upstream);
  if (domains.has(alias)) {
    throw forbidden(
      `alias ${alias} is a domain of project ${project.name} (its production or branch domains are managed in Vercel, not assigned by a deploy)`,
    );
  }
  await checkConfiguredElsewhere(alias, project, upstream);
  const holder = await currentHolder(alias, project, upstream);
  if (holder !== undefined && holder !== project.projectId) {
    throw forbidden(`alias ${alias} points at a deployment of another project; choose another name`);
  }

  const response = await forwardToVercel(upstream, {
    method: 'POST',
    path: `/v2/deployments/${deploymentId}/aliases`,
    query: new URLSearchParams(),
    teamId: project.teamId,
    headers: new Headers({ 'content-type': 'application/json' }),
    body: JSON.stringify({ alias }),
  });
  return { response: await relayResponse(response), upstreamStatus: response.status };
}

const unverifiable = (what: string) =>
  new BrokerError(502, 'upstream_error', `Vercel did not answer ${what}; the alias was not assigned. Retry.`);

/** Every domain of the project (GET /v9/projects/:id/domains, paginated), lower-cased. */
async function projectDomains(project: GatewayProject, upstream: Upstream): Promise<Set<string>> {
  const names = new Set<string>();
  let until: string | undefined;
  for (let page = 0; page < MAX_DOMAIN_PAGES; page++) {
    const query = new URLSearchParams({ limit: '100', ...(until ? { until } : {}) });
    const response = await forwardToVercel(upstream, {
      method: 'GET',
      path: `/v9/projects/${project.projectId}/domains`,
      query,
      teamId: project.teamId,
    });
    if (!response.ok) {
      await response.body?.cancel();
      throw unverifiable('which domains the project has');
    }
    const body = (await response.json()) as {
      domains?: { name?: unknown }[];
      pagination?: { next?: unknown };
    };
    for (const domain of body.domains ?? [])
      if (typeof domain.name === 'string') names.add(domain.name.toLowerCase());
    const next = body.pagination?.next;
    if (typeof next !== 'number' && typeof next !== 'string') return names;
    until = String(next);
  }
  throw unverifiable("with the full list of the project's domains");
}

/** The project whose deployment the alias points at now (GET /v4/aliases/:alias), or undefined if free. */
async function currentHolder(
  alias: string,
  project: GatewayProject,
  upstream: Upstream,
): Promise<string | undefined> {
  const response = await forwardToVercel(upstream, {
    method: 'GET',
    path: `/v4/aliases/${alias}`,
    query: new URLSearchParams(),
    teamId: project.teamId,
  });
  if (response.status === 404) {
    await response.body?.cancel();
    return undefined;
  }
  if (!response.ok) {
    await response.body?.cancel();
    throw unverifiable('whether the alias is in use');
  }
  const body = (await response.json()) as { projectId?: unknown };
  // An alias without a project (a redirect, a legacy alias) is not this project's to move.
  return typeof body.projectId === 'string' ? body.projectId : '';
}
