/** The pinned project's own deployments: read one, stream its build log, cancel it. */
import { answerJson, type GatewayResult, type ProjectContext } from '../context.js';
import { endingWithCredential } from '../follow.js';
import { copyResponseHeaders, forwardToVercel, relayResponse } from '../forward.js';
import { checkTargetReach, ownedDeployment, resolvedId } from '../ownership.js';

export async function getDeployment(ctx: ProjectContext): Promise<GatewayResult> {
  const owned = await ownedDeployment(ctx, ctx.route.param!, ctx.route.query);
  if (!owned.body) return { response: owned.response };
  // `vercel inspect`: a production or custom environment deployment is read with its own credential only.
  checkTargetReach(owned.body, ctx.claims, `GET ${ctx.route.path}`);
  return {
    response: answerJson(200, owned.body, copyResponseHeaders(owned.response.headers)),
    upstreamStatus: 200,
  };
}

export async function streamDeploymentEvents(ctx: ProjectContext): Promise<GatewayResult> {
  const { route } = ctx;
  // Build logs can carry secrets: ownership is proven before the stream is even requested.
  const owned = await ownedDeployment(ctx, route.param!);
  if (!owned.body) return { response: owned.response };
  // Build logs can print the target's variables: only a credential of the deployment's own target.
  checkTargetReach(owned.body, ctx.claims, `GET ${route.path}`, true);
  const response = await forwardToVercel(ctx.upstream, {
    method: 'GET',
    path: `/v3/deployments/${resolvedId(owned.body)}/events`,
    query: route.query,
    teamId: ctx.project.teamId,
  });
  return {
    response: endingWithCredential(await relayResponse(response), ctx),
    upstreamStatus: response.status,
  };
}

export async function cancelDeployment(ctx: ProjectContext): Promise<GatewayResult> {
  const { route } = ctx;
  const owned = await ownedDeployment(ctx, route.param!);
  if (!owned.body) return { response: owned.response };
  checkTargetReach(owned.body, ctx.claims, `PATCH ${route.path}`);
  const response = await forwardToVercel(ctx.upstream, {
    method: 'PATCH',
    path: `/v12/deployments/${resolvedId(owned.body)}/cancel`,
    query: new URLSearchParams(),
    teamId: ctx.project.teamId,
  });
  return { response: await relayResponse(response), upstreamStatus: response.status };
}
