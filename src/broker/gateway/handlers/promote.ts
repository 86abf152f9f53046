/** `POST /v10/projects/:project/promote/:deployment`: production points at a deployment this commit staged. */
import { forbidden } from '../../errors.js';
import { foldCase } from '../../fold-case.js';
import type { GatewayResult, ProjectContext } from '../context.js';
import { forwardToVercel, relayResponse } from '../forward.js';
import { checkPinned, ownedDeployment, resolvedId } from '../ownership.js';

/**
 * Points production at a deployment the same commit staged earlier: only with a production
 * credential, only a READY production deployment of the pinned project that Keyhole itself
 * created with `autoAssignCustomDomains: false` (its `keyholeStaged` stamp) from this credential's
 * commit (the `githubCommitSha` Keyhole stamped from verified claims). Never a rebuild.
 */
export async function promote(ctx: ProjectContext): Promise<GatewayResult> {
  const { route, claims, project, upstream } = ctx;
  const [projectParam, deploymentParam] = route.params as [string, string];
  const refuse = (why: string) => forbidden(`POST ${route.path} is not allowed: ${why}`);
  if (claims.tgt !== 'production') {
    throw refuse(`promotion needs a production credential; this one deploys to ${claims.tgt}`);
  }
  // Compared as GitHub compares environment names: case-insensitively.
  const environment = claims.env === undefined ? undefined : foldCase(claims.env);
  if (project.promoteEnvironments && !(environment && project.promoteEnvironments.includes(environment))) {
    throw refuse(
      `project ${project.name} is promoted only from jobs in the GitHub environment ${project.promoteEnvironments.join(' or ')}; this job's environment is ${claims.env ?? 'none'}`,
    );
  }
  await checkPinned(ctx, projectParam);
  const owned = await ownedDeployment(ctx, deploymentParam);
  if (!owned.body) return { response: owned.response };
  const deployment = owned.body;
  const id = resolvedId(deployment);
  const meta = (deployment.meta ?? {}) as Record<string, unknown>;
  if (deployment.target !== 'production') {
    throw refuse(
      `${id} is not a production deployment; Keyhole promotes only staged production deployments (stage: true), because promoting a preview rebuilds it with production's variables`,
    );
  }
  if (meta.keyholeStaged !== '1' || typeof meta.keyholeCredentialId !== 'string') {
    throw refuse(
      `${id} was not staged through Keyhole; create it with stage: true (vercel deploy --prod --skip-domain)`,
    );
  }
  if (meta.githubCommitSha !== claims.sha) {
    throw refuse(
      `${id} was built from commit ${String(meta.githubCommitSha).slice(0, 12)}, this job runs for ${claims.sha.slice(0, 12)}; promote from the same commit's workflow run`,
    );
  }
  if (deployment.readyState !== 'READY') {
    throw refuse(`${id} is ${String(deployment.readyState)}; only a READY deployment can be promoted`);
  }
  const response = await forwardToVercel(upstream, {
    method: 'POST',
    path: `/v10/projects/${project.projectId}/promote/${id}`,
    query: new URLSearchParams(),
    teamId: project.teamId,
    headers: new Headers({ 'content-type': 'application/json' }),
    body: '{}',
  });
  return {
    response: await relayResponse(response),
    upstreamStatus: response.status,
    audit: { promoted_deployment: id, promoted_sha: claims.sha },
  };
}
