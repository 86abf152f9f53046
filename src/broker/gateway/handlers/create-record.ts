/**
 * What makes a create idempotent: its record (the answer a repeat gets), the lock one attempt holds,
 * the marker of an attempt that ended without knowing, and the search for what such an attempt made.
 */
import { toHex } from '../../bytes.js';
import { storeKeys } from '../../store/store.js';
import { answerJson, type ProjectContext } from '../context.js';
import { forwardToVercel } from '../forward.js';
import { ownedDeployment } from '../ownership.js';

/** The digest of a create (its query and checked body) and the key of its record for this credential. */
export async function keyCreate(
  ctx: ProjectContext,
  body: Record<string, unknown>,
): Promise<{ digest: string; key: string }> {
  const digest = toHex(
    new Uint8Array(
      await crypto.subtle.digest(
        'SHA-256',
        new TextEncoder().encode(`${ctx.route.query}\n${JSON.stringify(body)}`),
      ),
    ),
  );
  return { digest, key: storeKeys.createRecord(ctx.claims.cid, digest) };
}

/** Stores the answer a repeat of this create gets, and answers it. */
export async function remember(
  ctx: ProjectContext,
  key: string,
  body: Record<string, unknown>,
  ttl: number,
  headers?: Headers,
): Promise<Response> {
  await ctx.store.put(key, JSON.stringify(body), ttl);
  return answerJson(200, body, headers);
}

/** Takes the create's lock, or false when another request holds it. */
export async function acquireLock(ctx: ProjectContext, key: string): Promise<boolean> {
  return ctx.store.reserve(
    storeKeys.createLock(key),
    ctx.config.limits.upstream_timeout_seconds * 1000 + 30_000,
  );
}

export async function releaseLock(ctx: ProjectContext, key: string): Promise<void> {
  await ctx.store.release(storeKeys.createLock(key));
}

/** Another request holds the create: wait for its record, or take over if it died. */
export async function waitForRecord(ctx: ProjectContext, key: string): Promise<string | undefined> {
  const deadline = ctx.now() + ctx.config.limits.upstream_timeout_seconds * 1000;
  while (ctx.now() < deadline) {
    await new Promise((resolve) => setTimeout(resolve, 200));
    const record = await ctx.store.get(key);
    if (record) return record;
  }
  return undefined;
}

/** Was an earlier attempt left without knowing whether Vercel created it? */
export async function isAmbiguous(ctx: ProjectContext, key: string): Promise<boolean> {
  return Boolean(await ctx.store.get(storeKeys.createAmbiguous(key)));
}

export async function markAmbiguous(ctx: ProjectContext, key: string, ttl: number): Promise<void> {
  await ctx.store.put(storeKeys.createAmbiguous(key), '1', ttl);
}

export async function clearAmbiguous(ctx: ProjectContext, key: string): Promise<void> {
  await ctx.store.release(storeKeys.createAmbiguous(key));
}

/** Finds the deployment a create with this digest made, by the `keyholeCreateKey` stamped in its meta. */
export async function findCreated(
  ctx: ProjectContext,
  digest: string,
): Promise<Record<string, unknown> | undefined> {
  const { project, upstream } = ctx;
  try {
    const query = new URLSearchParams({ projectId: project.projectId, limit: '20' });
    const listing = await forwardToVercel(upstream, {
      method: 'GET',
      path: '/v6/deployments',
      query,
      teamId: project.teamId,
    });
    if (!listing.ok) return undefined;
    const { deployments = [] } = (await listing.json()) as {
      deployments?: { uid?: string; meta?: Record<string, string> }[];
    };
    const match = deployments.find((d) => d.meta?.keyholeCreateKey === digest);
    if (!match?.uid) return undefined;
    const owned = await ownedDeployment(ctx, match.uid);
    return owned.body;
  } catch {
    return undefined;
  }
}
