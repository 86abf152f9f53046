/** `GET /v9/projects/:id`: the pinned project, cut down to the fields `vercel deploy` reads. */
import { answerJson, type GatewayResult, type ProjectContext } from '../context.js';
import { forwardToVercel, relayResponse } from '../forward.js';
import { checkPinned } from '../ownership.js';

/** The project fields `vercel deploy` reads; env vars, tokens, domains and links are never returned. */
const PROJECT_FIELDS = [
  'id',
  'name',
  'accountId',
  'framework',
  'rootDirectory',
  'buildCommand',
  'devCommand',
  'installCommand',
  'outputDirectory',
  'nodeVersion',
  'createdAt',
  'updatedAt',
  'directoryListing',
  'sourceFilesOutsideRootDirectory',
  'commandForIgnoringBuildStep',
  'serverlessFunctionRegion',
  'skipGitConnectDuringLink',
];
/** The parts of a project's alias state that say where production points (what `vercel promote` polls). */
const ALIAS_REQUEST_FIELDS = ['fromDeploymentId', 'toDeploymentId', 'jobStatus', 'requestedAt', 'type'];

export async function getProject(ctx: ProjectContext): Promise<GatewayResult> {
  const { project, upstream } = ctx;
  await checkPinned(ctx, ctx.route.param!);
  const response = await forwardToVercel(upstream, {
    method: 'GET',
    path: `/v9/projects/${project.projectId}`,
    // Only the flag `vercel rollback status` sends; nothing else of the client's query goes upstream.
    query: new URLSearchParams(
      ctx.route.query.get('rollbackInfo') === 'true' ? { rollbackInfo: 'true' } : {},
    ),
    teamId: project.teamId,
  });
  if (!response.ok) return { response: await relayResponse(response) };
  const body = (await response.json()) as Record<string, unknown>;
  const picked = Object.fromEntries(
    PROJECT_FIELDS.filter((f) => Object.hasOwn(body, f)).map((f) => [f, body[f]]),
  );
  // Where production points, and the last promotion's progress: ids and a state, nothing else.
  const production = (body.targets as { production?: Record<string, unknown> } | null)?.production;
  if (production && typeof production.id === 'string') {
    picked.targets = { production: { id: production.id, url: production.url } };
  }
  const aliasRequest = body.lastAliasRequest as Record<string, unknown> | null | undefined;
  if (aliasRequest && typeof aliasRequest === 'object') {
    picked.lastAliasRequest = Object.fromEntries(
      ALIAS_REQUEST_FIELDS.filter((f) => Object.hasOwn(aliasRequest, f)).map((f) => [f, aliasRequest[f]]),
    );
  }
  return { response: answerJson(200, picked) };
}
