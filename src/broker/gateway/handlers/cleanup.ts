/**
 * Preview clean-up (project `cleanup_previews: true`): a preview credential lists, and deletes, the
 * previews the broker stamped for its own ref, and removes their `preview_aliases` names. Every
 * check is made on what Vercel answers and on the stamp's MAC, before the one upstream write.
 */
import { forbidden, notFound } from '../../errors.js';
import { normalizeAlias } from '../../hostname.js';
import { isSecondHand } from '../body-rules.js';
import { answerJson, type GatewayResult, type ProjectContext } from '../context.js';
import { forwardToVercel, relayResponse } from '../forward.js';
import { checkPinned, ownedDeployment, resolvedId } from '../ownership.js';
import { verifiedStamp } from '../stamp.js';

const MAX_LIST = 100;

/** The preconditions of every clean-up call: the project allows it, and the credential is a first-hand preview one. */
function checkCleanupCredential(ctx: ProjectContext, call: string): void {
  const { claims, project } = ctx;
  const refuse = (why: string) => forbidden(`${call} is not allowed: ${why}`);
  if (!project.cleanupPreviews)
    throw refuse(
      `project ${project.name} does not set cleanup_previews: true in the broker config; ask its admin`,
    );
  if (claims.tgt !== 'preview')
    throw refuse(`clean-up needs a preview credential; this one deploys to ${claims.tgt}`);
  if (isSecondHand(claims))
    throw refuse(
      `a ${claims.evt} job runs on the base repository's ref, not a pull request's branch; clean up from a pull_request: closed job`,
    );
}

/**
 * Is this deployment (as Vercel answered it) a preview the broker stamped for the credential's own
 * ref in the pinned project? The reason when not, for the refusal.
 */
async function notOwnPreview(
  ctx: ProjectContext,
  deployment: Record<string, unknown>,
): Promise<string | undefined> {
  const id = String(deployment.id ?? deployment.uid);
  if (deployment.target === 'production') return `${id} is a production deployment`;
  const stamp = await verifiedStamp(ctx.keys, deployment);
  if (!stamp || stamp.projectId !== ctx.project.projectId)
    return `${id} was not created through this broker (its keyholeStamp does not verify)`;
  if (stamp.target !== 'preview') return `${id} is a ${stamp.target} deployment, not a preview`;
  if (!stamp.firstHand || stamp.ref !== ctx.claims.ref)
    return `${id} was deployed for another ref than this job's ${ctx.claims.ref}`;
  return undefined;
}

/** `DELETE /v13/deployments/:id`: one of this branch's stamped previews, deleted. */
export async function deleteDeployment(ctx: ProjectContext): Promise<GatewayResult> {
  const call = `DELETE ${ctx.route.path}`;
  checkCleanupCredential(ctx, call);
  const owned = await ownedDeployment(ctx, ctx.route.param!);
  if (!owned.body) return { response: owned.response };
  const why = await notOwnPreview(ctx, owned.body);
  if (why) throw forbidden(`${call} is not allowed: ${why}; clean-up deletes only this branch's previews`);
  const id = resolvedId(owned.body);
  const response = await forwardToVercel(ctx.upstream, {
    method: 'DELETE',
    path: `/v13/deployments/${id}`,
    query: new URLSearchParams(),
    teamId: ctx.project.teamId,
  });
  return {
    response: await relayResponse(response),
    upstreamStatus: response.status,
    audit: { deleted_deployment: id },
  };
}

/** `DELETE /v2/aliases/:alias`: a `preview_aliases` name that points at one of this branch's stamped previews. */
export async function deleteAlias(ctx: ProjectContext): Promise<GatewayResult> {
  const { project, upstream } = ctx;
  const call = `DELETE ${ctx.route.path}`;
  checkCleanupCredential(ctx, call);
  const normalized = normalizeAlias(ctx.route.param);
  if ('error' in normalized) throw forbidden(normalized.error);
  const { alias } = normalized;
  if (!project.previewAliases.some((p) => p.match(alias)))
    throw forbidden(
      `${call} is not allowed: ${alias} does not match project ${project.name}'s preview_aliases`,
    );
  const lookup = await forwardToVercel(upstream, {
    method: 'GET',
    path: `/v4/aliases/${alias}`,
    query: new URLSearchParams(),
    teamId: project.teamId,
  });
  if (!lookup.ok) {
    await lookup.body?.cancel();
    if (lookup.status === 404 || lookup.status === 403) throw notFound('The alias was not found.');
    return { response: await relayResponse(lookup), upstreamStatus: lookup.status };
  }
  const held = (await lookup.json()) as { deploymentId?: unknown; projectId?: unknown };
  // Another project's alias answers like a missing one.
  if (held.projectId !== project.projectId || typeof held.deploymentId !== 'string')
    throw notFound('The alias was not found.');
  const owned = await ownedDeployment(ctx, held.deploymentId);
  if (!owned.body) return { response: owned.response };
  const why = await notOwnPreview(ctx, owned.body);
  if (why)
    throw forbidden(
      `${call} is not allowed: ${alias} points at ${why}; clean-up removes only this branch's aliases`,
    );
  const response = await forwardToVercel(upstream, {
    method: 'DELETE',
    path: `/v2/aliases/${alias}`,
    query: new URLSearchParams(),
    teamId: project.teamId,
  });
  return {
    response: await relayResponse(response),
    upstreamStatus: response.status,
    audit: { deleted_alias: alias },
  };
}

interface ListedDeployment {
  uid?: unknown;
  url?: unknown;
  createdAt?: unknown;
  readyState?: unknown;
  target?: unknown;
  projectId?: unknown;
  meta?: Record<string, string>;
}

/**
 * `GET /v6/deployments`: the pinned project's deployments of the credential's own target and ref
 * that the broker stamped, newest first, each with the `preview_aliases` names that point at it
 * (what clean-up removes). Filters are the broker's; a client's projectId or target may only repeat them.
 */
export async function listDeployments(ctx: ProjectContext): Promise<GatewayResult> {
  const { claims, project, upstream, route } = ctx;
  const call = `GET ${route.path}`;
  checkCleanupCredential(ctx, call);
  const projectParam = route.query.get('projectId');
  if (projectParam !== null) await checkPinned(ctx, projectParam);
  const target = route.query.get('target');
  if (target !== null && target !== claims.tgt)
    throw forbidden(`${call} is not allowed: this credential lists ${claims.tgt} deployments only`);
  const limit = Number(route.query.get('limit') ?? 20);
  if (!Number.isSafeInteger(limit) || limit < 1 || limit > MAX_LIST)
    throw forbidden(`${call}: limit must be a whole number from 1 to ${MAX_LIST}`);
  const query = new URLSearchParams({
    projectId: project.projectId,
    limit: String(limit),
    target: 'preview',
    'meta-keyholeRef': claims.ref,
  });
  for (const key of ['until', 'state']) {
    const value = route.query.get(key);
    if (value !== null) query.set(key, value);
  }
  const response = await forwardToVercel(upstream, {
    method: 'GET',
    path: '/v6/deployments',
    query,
    teamId: project.teamId,
  });
  if (!response.ok) return { response: await relayResponse(response), upstreamStatus: response.status };
  const body = (await response.json()) as {
    deployments?: ListedDeployment[];
    pagination?: { next?: unknown };
  };
  const deployments = [];
  for (const listed of body.deployments ?? []) {
    const entry = { ...listed, id: listed.uid } as Record<string, unknown>;
    if (listed.projectId !== project.projectId || (await notOwnPreview(ctx, entry))) continue;
    deployments.push({
      uid: listed.uid,
      url: listed.url,
      createdAt: listed.createdAt,
      readyState: listed.readyState,
      target: listed.target ?? null,
      keyholeAliases: await previewAliasesOf(ctx, String(listed.uid)),
    });
  }
  const next = body.pagination?.next;
  return {
    response: answerJson(200, {
      deployments,
      pagination: { count: deployments.length, next: typeof next === 'number' ? next : null, prev: null },
    }),
    upstreamStatus: response.status,
  };
}

/** The `preview_aliases` names among the aliases Vercel lists for a deployment. */
async function previewAliasesOf(ctx: ProjectContext, id: string): Promise<string[]> {
  const owned = await ownedDeployment(ctx, id);
  const aliases = Array.isArray(owned.body?.alias) ? (owned.body.alias as unknown[]) : [];
  return aliases.filter(
    (alias): alias is string =>
      typeof alias === 'string' && ctx.project.previewAliases.some((p) => p.match(alias.toLowerCase())),
  );
}
