/**
 * `POST /v9/projects/:pinned/rollback/:id` (`vercel rollback`, action `rollback:`): production
 * points back at a READY production deployment the broker stamped, only for a production
 * credential of a job in one of the project's `rollback_environments`. `previous` names the
 * stamped READY production deployment created before the one production serves now.
 */
import { BrokerError, forbidden } from '../../errors.js';
import { foldCase } from '../../fold-case.js';
import type { GatewayResult, ProjectContext } from '../context.js';
import { forwardToVercel, relayResponse } from '../forward.js';
import { checkPinned, ownedDeployment, resolvedId } from '../ownership.js';
import { verifiedStamp } from '../stamp.js';

const PREVIOUS = 'previous';
const MAX_PAGES = 10;

function checkRollbackCredential(ctx: ProjectContext, call: string): void {
  const { claims, project } = ctx;
  const refuse = (why: string) => forbidden(`${call} is not allowed: ${why}`);
  if (claims.tgt !== 'production')
    throw refuse(`rollback needs a production credential; this one deploys to ${claims.tgt}`);
  const environments = project.rollbackEnvironments;
  if (!environments)
    throw refuse(
      `project ${project.name} sets no rollback_environments in the broker config; ask its admin to list the GitHub environment that may roll back`,
    );
  // Compared as GitHub compares environment names: case-insensitively.
  const environment = claims.env === undefined ? undefined : foldCase(claims.env);
  if (!environment || !environments.includes(environment))
    throw refuse(
      `project ${project.name} is rolled back only from jobs in the GitHub environment ${environments.join(' or ')}; this job's environment is ${claims.env ?? 'none'}`,
    );
}

/** The deployment production serves now (the project's `targets.production`), if Vercel says. */
async function currentProduction(ctx: ProjectContext): Promise<string | undefined> {
  const response = await forwardToVercel(ctx.upstream, {
    method: 'GET',
    path: `/v9/projects/${ctx.project.projectId}`,
    query: new URLSearchParams(),
    teamId: ctx.project.teamId,
  });
  if (!response.ok) {
    await response.body?.cancel();
    throw new BrokerError(502, 'upstream_error', 'Vercel did not say what production serves; retry.');
  }
  const body = (await response.json()) as { targets?: { production?: { id?: unknown } } | null };
  const id = body.targets?.production?.id;
  return typeof id === 'string' ? id : undefined;
}

/**
 * `previous`: the newest stamped READY production deployment created before the current one that
 * has served production before (Vercel's rollback candidates: a staged deployment never promoted is
 * not one).
 */
async function previousDeployment(ctx: ProjectContext, current: string | undefined, call: string) {
  const { project, upstream } = ctx;
  const before = current ? Number((await ownedDeployment(ctx, current)).body?.createdAt) : Infinity;
  let until = Number.isFinite(before) ? before : undefined;
  for (let page = 0; page < MAX_PAGES; page++) {
    const query = new URLSearchParams({
      projectId: project.projectId,
      target: 'production',
      state: 'READY',
      rollbackCandidate: 'true',
      limit: '100',
      ...(until !== undefined ? { until: String(until) } : {}),
    });
    const response = await forwardToVercel(upstream, {
      method: 'GET',
      path: '/v6/deployments',
      query,
      teamId: project.teamId,
    });
    if (!response.ok) {
      await response.body?.cancel();
      throw new BrokerError(502, 'upstream_error', 'Vercel did not list the production deployments; retry.');
    }
    const body = (await response.json()) as {
      deployments?: Record<string, unknown>[];
      pagination?: { next?: unknown };
    };
    for (const listed of body.deployments ?? []) {
      if (listed.uid === current || listed.projectId !== project.projectId) continue;
      const stamp = await verifiedStamp(ctx.keys, listed);
      if (stamp?.target === 'production' && stamp.projectId === project.projectId) return String(listed.uid);
    }
    const next = body.pagination?.next;
    if (typeof next !== 'number') break;
    until = next;
  }
  throw forbidden(
    `${call} is not allowed: no READY production deployment made through this broker precedes the current one; name a deployment id instead`,
  );
}

export async function rollback(ctx: ProjectContext): Promise<GatewayResult> {
  const { route, project, upstream } = ctx;
  const call = `POST ${route.path}`;
  const [projectParam, deploymentParam] = route.params as [string, string];
  checkRollbackCredential(ctx, call);
  await checkPinned(ctx, projectParam);
  const from = await currentProduction(ctx);
  const wanted = deploymentParam === PREVIOUS ? await previousDeployment(ctx, from, call) : deploymentParam;
  const owned = await ownedDeployment(ctx, wanted);
  if (!owned.body) return { response: owned.response };
  const deployment = owned.body;
  const id = resolvedId(deployment);
  const refuse = (why: string) => forbidden(`${call} is not allowed: ${why}`);
  if (deployment.target !== 'production')
    throw refuse(`${id} is not a production deployment; a rollback returns production to an earlier one`);
  const stamp = await verifiedStamp(ctx.keys, deployment);
  if (!stamp || stamp.projectId !== project.projectId || stamp.target !== 'production')
    throw refuse(
      `${id} was not created through this broker (its keyholeStamp does not verify); Keyhole rolls back only to its own deployments`,
    );
  if (deployment.readyState !== 'READY')
    throw refuse(`${id} is ${String(deployment.readyState)}; only a READY deployment can serve production`);
  const response = await forwardToVercel(upstream, {
    method: 'POST',
    path: `/v9/projects/${project.projectId}/rollback/${id}`,
    query: new URLSearchParams(),
    teamId: project.teamId,
    headers: new Headers({ 'content-type': 'application/json' }),
    body: '{}',
  });
  return {
    response: await relayResponse(response),
    upstreamStatus: response.status,
    audit: { rolled_back_from: from ?? 'none', rolled_back_to: id },
  };
}
