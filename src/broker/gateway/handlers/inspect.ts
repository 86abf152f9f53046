/**
 * The read-only calls of `vercel inspect`, `vercel logs` and `vercel promote|rollback status`: a
 * deployment's builds, its request and runtime logs, production's aliases after a promotion or a
 * rollback. Each reads only the pinned project's deployments of the credential's own target;
 * runtime logs only where the project's `runtime_logs` says so.
 */
import { forbidden } from '../../errors.js';
import type { GatewayResult, ProjectContext } from '../context.js';
import { endingWithCredential } from '../follow.js';
import { forwardToVercel, relayResponse } from '../forward.js';
import { checkPinned, checkTargetReach, ownedDeployment, resolvedId } from '../ownership.js';

/** `GET /v11/deployments/:id/builds` (`vercel inspect`): the build list of an owned deployment. */
export async function getBuilds(ctx: ProjectContext): Promise<GatewayResult> {
  const { route, project, upstream } = ctx;
  const owned = await ownedDeployment(ctx, route.param!);
  if (!owned.body) return { response: owned.response };
  checkTargetReach(owned.body, ctx.claims, `GET ${route.path}`, true);
  const response = await forwardToVercel(upstream, {
    method: 'GET',
    path: `/v11/deployments/${resolvedId(owned.body)}/builds`,
    query: new URLSearchParams(),
    teamId: project.teamId,
  });
  return { response: await relayResponse(response), upstreamStatus: response.status };
}

/** An app's runtime output can hold its users' data: read only where the admin opted in. */
function checkRuntimeLogs(ctx: ProjectContext, call: string): void {
  if (!ctx.project.runtimeLogs)
    throw forbidden(
      `${call} is not allowed: project ${ctx.project.name} does not let credentials read runtime logs (its broker admin sets runtime_logs: true); build logs: vercel inspect --logs <deployment>`,
    );
}

/**
 * Where Vercel serves request logs: the dashboard origin, not the API's (the CLI asks
 * https://vercel.com when its API is https://api.vercel.com, and its `--api` otherwise).
 */
const requestLogsOrigin = (apiUrl: string) =>
  apiUrl === 'https://api.vercel.com' ? 'https://vercel.com' : apiUrl;

/**
 * `GET /api/logs/request-logs` (`vercel logs <deployment>`): one owned deployment's request logs of
 * the credential's own target. The project, owner and deployment the query names are replaced with
 * the pinned ones and the checked `dpl_` id, so a query cannot widen the read.
 */
export async function getRequestLogs(ctx: ProjectContext): Promise<GatewayResult> {
  const { route, project, upstream } = ctx;
  const call = `GET ${route.path}`;
  checkRuntimeLogs(ctx, call);
  const query = new URLSearchParams(route.query);
  const projectId = query.get('projectId');
  if (projectId === null) throw forbidden(`${call} needs projectId (the pinned project)`);
  await checkPinned(ctx, projectId);
  const ownerId = query.get('ownerId');
  if (ownerId !== null && ownerId !== project.teamId)
    throw forbidden(`${call} is not allowed: ownerId must be the pinned team`);
  const deploymentId = query.get('deploymentId');
  if (deploymentId === null)
    throw forbidden(
      `${call} needs a deployment: a credential reads the logs of its own target's deployments only (vercel logs <deployment>)`,
    );
  const owned = await ownedDeployment(ctx, deploymentId);
  if (!owned.body) return { response: owned.response };
  checkTargetReach(owned.body, ctx.claims, call, true);
  query.set('projectId', project.projectId);
  query.set('ownerId', project.teamId);
  query.set('deploymentId', resolvedId(owned.body));
  const response = await forwardToVercel(
    { ...upstream, baseUrl: requestLogsOrigin(upstream.baseUrl) },
    { method: 'GET', path: '/api/logs/request-logs', query, teamId: project.teamId },
  );
  return { response: await relayResponse(response), upstreamStatus: response.status };
}

/**
 * `GET /v1/projects/:pid/deployments/:id/runtime-logs` (`vercel logs --follow`): a JSON-lines stream,
 * relayed as it arrives (never buffered whole) until either side ends it or the credential expires.
 */
export async function streamRuntimeLogs(ctx: ProjectContext): Promise<GatewayResult> {
  const { route, project, upstream } = ctx;
  const call = `GET ${route.path}`;
  checkRuntimeLogs(ctx, call);
  const [projectParam, deploymentParam] = route.params as [string, string];
  await checkPinned(ctx, projectParam);
  const owned = await ownedDeployment(ctx, deploymentParam);
  if (!owned.body) return { response: owned.response };
  checkTargetReach(owned.body, ctx.claims, call, true);
  const response = await forwardToVercel(upstream, {
    method: 'GET',
    path: `/v1/projects/${project.projectId}/deployments/${resolvedId(owned.body)}/runtime-logs`,
    query: route.query,
    teamId: project.teamId,
  });
  return {
    response: endingWithCredential(await relayResponse(response), ctx),
    upstreamStatus: response.status,
  };
}

/**
 * `GET /v9/projects/:pinned/{promote,rollback}/aliases`: what `vercel promote status` and `vercel
 * rollback status` read after a failed promotion or rollback. Production's aliases: a production
 * credential's only.
 */
function productionAliases(action: 'promote' | 'rollback') {
  return async (ctx: ProjectContext): Promise<GatewayResult> => {
    const { route, project, upstream, claims } = ctx;
    if (claims.tgt !== 'production')
      throw forbidden(
        `GET ${route.path} is not allowed: it reads production's aliases; this credential deploys to ${claims.tgt}`,
      );
    await checkPinned(ctx, route.param!);
    const response = await forwardToVercel(upstream, {
      method: 'GET',
      path: `/v9/projects/${project.projectId}/${action}/aliases`,
      query: route.query,
      teamId: project.teamId,
    });
    return { response: await relayResponse(response), upstreamStatus: response.status };
  };
}

export const promoteAliases = productionAliases('promote');
export const rollbackAliases = productionAliases('rollback');
