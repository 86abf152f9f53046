/** `POST /v13/deployments`: a checked body, created at most once per credential and body, within the job's quota. */
import { badRequest, BrokerError, forbidden } from '../../errors.js';
import { foldCase } from '../../fold-case.js';
import { JOB_WINDOW_MS } from '../../github/job.js';
import { readLimitedText } from '../../http.js';
import { storeKeys } from '../../store/store.js';
import { checkCreateBody, isSecondHand, type CheckedCreate } from '../body-rules.js';
import { answerJson, type GatewayResult, type ProjectContext } from '../context.js';
import { copyResponseHeaders, forwardToVercel, relayResponse, type UpstreamRequest } from '../forward.js';
import { vercelName } from '../ownership.js';
import { acquireSlot, bufferedShares } from '../fair-share.js';
import { budgetOwner } from '../quota.js';
import { stampMeta } from '../stamp.js';
import { recordCreated } from './alias.js';
import {
  acquireLock,
  clearAmbiguous,
  findCreated,
  isAmbiguous,
  keyCreate,
  markAmbiguous,
  releaseLock,
  remember,
  waitForRecord,
} from './create-record.js';

export async function createDeployment(ctx: ProjectContext): Promise<GatewayResult> {
  const response = await createHeld(ctx);
  // Who created what: the alias route lets a credential touch only its own deployments.
  await recordCreated(ctx.store, response, ctx.claims, Math.max(60_000, ctx.claims.exp - ctx.now() + 60_000));
  return { response };
}

/** Runs the create under a create slot and the buffered-bytes budget its body needs. */
async function createHeld(ctx: ProjectContext): Promise<Response> {
  const { limits } = ctx.config;
  const release = await acquireSlot(ctx, 'creates', limits.max_inflight_creates);
  // Bytes held while the body is parsed and forwarded: the declared length, or the cap when unknown.
  const declared = Number(ctx.request.headers.get('content-length') ?? NaN);
  const held =
    Number.isSafeInteger(declared) && declared >= 0
      ? Math.min(declared, limits.max_body_bytes)
      : limits.max_body_bytes;
  const shares = bufferedShares(ctx);
  try {
    ctx.state.buffered.take(held, shares);
  } catch (error) {
    release();
    throw error;
  }
  try {
    return await createChecked(ctx);
  } finally {
    ctx.state.buffered.release(held, shares);
    release();
  }
}

/**
 * With `promote_environments`, production is served only through a promotion from those
 * environments (with reviewers): a job in any other environment allowed production (e.g.
 * `production-build`, without reviewers) may only stage, building without taking the domains.
 */
function refuseServingFromStagingJob(ctx: ProjectContext, body: Record<string, unknown>): void {
  const { claims, project } = ctx;
  if (claims.tgt !== 'production' || !project.promoteEnvironments) return;
  const environment = claims.env === undefined ? undefined : foldCase(claims.env);
  if (environment && project.promoteEnvironments.includes(environment)) return;
  if (body.autoAssignCustomDomains === false) return;
  throw forbidden(
    `project ${project.name} serves production only through a promotion from the GitHub environment ${project.promoteEnvironments.join(' or ')}; a job in ${claims.env ? `environment ${claims.env}` : 'no environment'} may only stage it (the action's stage: true, or vercel deploy --prod --skip-domain)`,
  );
}

async function createChecked(ctx: ProjectContext): Promise<Response> {
  const { claims, project } = ctx;
  const text = await readLimitedText(ctx.request, ctx.config.limits.max_body_bytes);
  let raw: unknown;
  try {
    raw = JSON.parse(text);
  } catch {
    throw badRequest('the deployment body must be JSON');
  }
  const checked = checkCreateBody(raw, {
    claims,
    projectName: await vercelName(ctx),
    allowProjectSettings: project.allowProjectSettings,
    maxFiles: ctx.config.limits.max_files,
    maxUploadBytes: ctx.config.limits.max_upload_bytes,
    serverUrl: ctx.serverUrl,
    ...(project.buildEnvNames ? { buildEnvNames: project.buildEnvNames } : {}),
  });
  refuseServingFromStagingJob(ctx, checked.body);
  // Idempotency: a create repeated with the same credential and body (a client retry after a
  // timeout or reset) answers with the deployment the first attempt made, never a second one.
  const { digest, key } = await keyCreate(ctx, checked.body);
  const ttl = Math.max(60_000, claims.exp - ctx.now() + 60_000);
  const previous = await ctx.store.get(key);
  if (previous) return answerJson(200, JSON.parse(previous));
  if (!(await acquireLock(ctx, key))) {
    const settled = await waitForRecord(ctx, key);
    if (settled) return answerJson(200, JSON.parse(settled));
    throw new BrokerError(
      503,
      'unavailable',
      'The same deployment is being created by another request; retry.',
      {
        'retry-after': '2',
      },
    );
  }
  // Held until this attempt settles, whichever way it ends: a retry then finds a record or may try again.
  try {
    return await createOnce(ctx, checked.body, { digest, key, ttl });
  } finally {
    await releaseLock(ctx, key);
  }
}

/**
 * One attempt at the create, under its lock: the quota taken, the body forwarded, and every
 * outcome settled (recorded, marked ambiguous, or refunded) before the lock is released.
 */
async function createOnce(
  ctx: ProjectContext,
  checkedBody: CheckedCreate['body'],
  { digest, key, ttl }: { digest: string; key: string; ttl: number },
): Promise<Response> {
  const { claims, project, upstream } = ctx;
  // An earlier attempt ended without knowing whether Vercel created it: look before creating.
  // That attempt's quota unit is still held, so a retry of the same body takes no other.
  const ambiguous = await isAmbiguous(ctx, key);
  if (ambiguous) {
    const found = await findCreated(ctx, digest);
    if (found) return await remember(ctx, key, found, ttl);
  }
  // The quota is taken before forwarding, atomically and in the shared store: concurrent
  // creates (on any instance) can never pass it; a create Vercel definitively refused gives it back.
  // Counted per job like the other quotas: several credentials of one job share one budget.
  const quotaKey = storeKeys.deployments(budgetOwner(claims));
  const max = ctx.config.limits.max_deployments;
  // Kept for the job's window like the upload budgets, not one credential's life: a job that
  // exchanges again later must not find its count reset.
  if (!ambiguous && (await ctx.store.take(quotaKey, 1, max, JOB_WINDOW_MS)) === undefined) {
    throw new BrokerError(429, 'quota_exceeded', `this credential has created ${max} deployments, its limit`);
  }
  const meta = checkedBody.meta as Record<string, string>;
  meta.keyholeCreateKey = digest;
  // The proof that the broker made it, which clean-up and rollback require (stamp.ts).
  Object.assign(
    meta,
    await stampMeta(
      ctx.keys,
      {
        projectId: project.projectId,
        target: claims.tgt,
        ref: claims.ref,
        sha: claims.sha,
        firstHand: !isSecondHand(claims),
      },
      digest,
    ),
  );
  const upstreamRequest: UpstreamRequest = {
    method: 'POST',
    path: '/v13/deployments',
    query: ctx.route.query,
    teamId: project.teamId,
    headers: new Headers({ 'content-type': 'application/json' }),
    body: JSON.stringify(checkedBody),
  };
  // Marked before it is sent, not only when it fails: should the store fail after Vercel made the
  // deployment (the record cannot be written), the client's retry looks for it instead of making
  // a second one. A record, once written, is what a retry finds first.
  if (!ambiguous) {
    try {
      await markAmbiguous(ctx, key, ttl);
    } catch (error) {
      // Nothing sent: the unit goes back if the store takes it (if not, the job has one less, never one more).
      await ctx.store.take(quotaKey, -1, max, JOB_WINDOW_MS).catch(() => undefined);
      throw error;
    }
  }
  let response: Response;
  try {
    response = await forwardToVercel(upstream, upstreamRequest);
  } catch (error) {
    // Sent but unanswered: Vercel may have created it. Look before letting the client retry.
    const found = await findCreated(ctx, digest);
    if (found) return await remember(ctx, key, found, ttl);
    throw error;
  }
  if (!response.ok) {
    const found = response.status >= 500 ? await findCreated(ctx, digest) : undefined;
    if (found) {
      await response.body?.cancel();
      return await remember(ctx, key, found, ttl);
    }
    // A 5xx leaves the marker: Vercel may have made it.
    if (response.status < 500) {
      // Refused for certain: give back the one unit held for this body (this attempt's, or an
      // ambiguous earlier attempt's), and drop the marker so a later retry takes its own again.
      await ctx.store.take(quotaKey, -1, max, JOB_WINDOW_MS);
      await clearAmbiguous(ctx, key);
    }
    return await relayResponse(response);
  }
  const body = (await response.json()) as Record<string, unknown>;
  if (body.projectId !== undefined && body.projectId !== project.projectId) {
    throw new BrokerError(502, 'upstream_error', 'Vercel created the deployment in an unexpected project.');
  }
  return await remember(ctx, key, body, ttl, copyResponseHeaders(response.headers));
}
