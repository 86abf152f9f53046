/**
 * A deployment's life as clients see it: QUEUED, BUILDING, then READY or ERROR (or CANCELED), its
 * full object and build events, and which deployment production points at after builds and promotions.
 */
import type { FakeState } from './state.js';
import type { FakeDeployment } from './types.js';

export const TERMINAL = new Set(['READY', 'ERROR', 'CANCELED']);

export function stateOf(fake: FakeState, d: FakeDeployment): string {
  if (d.canceled) return 'CANCELED';
  const age = Date.now() - d.createdAt;
  if (age < fake.queueMs) return 'QUEUED';
  if (age < fake.queueMs + fake.buildMs) return 'BUILDING';
  return d.fails ? 'ERROR' : 'READY';
}

const readyAt = (fake: FakeState, d: FakeDeployment) => d.createdAt + fake.queueMs + fake.buildMs;

/**
 * Every time production started pointing at a deployment, oldest first: a non-staged production
 * deployment that became READY, or a finished promotion or rollback. Staged deployments never take
 * production by themselves, nor do production builds made after a rollback until the next promotion
 * (Vercel turns off the automatic assignment of production domains when it rolls back).
 */
function productionEvents(fake: FakeState, projectId: string): { id: string; at: number }[] {
  const now = Date.now();
  const events: { id: string; at: number }[] = [];
  const jobs = fake.promotions.get(projectId) ?? [];
  const frozen = (createdAt: number) =>
    jobs.filter((j) => j.requestedAt < createdAt).at(-1)?.type === 'rollback';
  for (const d of fake.deployments.values()) {
    if (d.projectId !== projectId || d.target !== 'production' || d.staged || d.canceled || d.fails) continue;
    if (frozen(d.createdAt)) continue;
    if (readyAt(fake, d) <= now) events.push({ id: d.id, at: readyAt(fake, d) });
  }
  for (const p of jobs) if (p.at <= now) events.push({ id: p.to, at: p.at });
  return events.sort((a, b) => a.at - b.at);
}

/** The deployment production points at now. */
export const productionOf = (fake: FakeState, projectId: string): string | undefined =>
  productionEvents(fake, projectId).at(-1)?.id;

/**
 * Vercel's `isRollbackCandidate`: a production deployment that has served production before (the
 * list's `rollbackCandidate=true` filter), so a rollback returns to something that once worked.
 */
export const rollbackCandidates = (fake: FakeState, projectId: string): Set<string> =>
  new Set(productionEvents(fake, projectId).map((e) => e.id));

/** The project's last alias job, shaped like Vercel's `lastAliasRequest` (what `vercel promote` polls). */
export function lastAliasRequest(fake: FakeState, projectId: string) {
  const last = fake.promotions.get(projectId)?.at(-1);
  if (!last) return null;
  return {
    fromDeploymentId: last.from ?? null,
    toDeploymentId: last.to,
    jobStatus: Date.now() >= last.at ? 'succeeded' : 'in-progress',
    requestedAt: last.requestedAt,
    type: last.type,
  };
}

const teamNames = (fake: FakeState, id: string) => {
  const slug = fake.teams.find((t) => t.id === id)?.slug ?? id;
  return { slug, name: slug };
};

/** The full deployment object: every key @vercel/sdk needs to avoid its 4-key fallback (§3.5). */
export function view(fake: FakeState, d: FakeDeployment) {
  const { queueMs, buildMs } = fake;
  const state = stateOf(fake, d);
  const ready = state === 'READY';
  return {
    id: d.id,
    url: d.url,
    name: d.name,
    aliasAssigned: ready,
    ...(ready ? { aliasAssignedAt: d.createdAt + queueMs + buildMs } : {}),
    alias: ready
      ? [
          d.target === 'production' && !d.staged
            ? `${d.name}.vercel.app`
            : `${d.name}-git-${d.id.slice(4, 10)}.vercel.app`,
          ...[...fake.aliases].filter(([, id]) => id === d.id).map(([name]) => name),
        ]
      : [],
    readyState: state,
    status: state,
    ...(state === 'ERROR'
      ? { errorCode: 'BUILD_FAILED', errorMessage: d.failure ?? 'Command "npm run build" exited with 1' }
      : {}),
    type: 'LAMBDAS',
    target: d.target,
    // The CLI's rollback and promote compare this with the current team (getProjectByDeployment).
    team: { id: d.teamId, ...teamNames(fake, d.teamId) },
    // @vercel/sdk's GetDeploymentCustomEnvironment: the full object (id, slug, type, createdAt).
    ...(d.customEnvironment
      ? {
          customEnvironment: {
            id: d.customEnvironment.id,
            slug: d.customEnvironment.slug,
            type: 'preview',
            createdAt: 1700000000000,
          },
        }
      : {}),
    build: { env: [] },
    creator: { uid: 'usr_fake' },
    env: [],
    meta: (d.body.meta as object) ?? {},
    gitMetadata: d.body.gitMetadata ?? null,
    plan: 'pro',
    projectSettings: {},
    regions: ['iad1'],
    bootedAt: d.createdAt,
    buildingAt: d.createdAt + queueMs,
    createdAt: d.createdAt,
    createdIn: 'iad1',
    inspectorUrl: `https://vercel.com/acme/${d.name}/${d.id.slice(4)}`,
    isInConcurrentBuildsQueue: false,
    isInSystemBuildsQueue: false,
    ownerId: d.teamId,
    projectId: d.projectId,
    public: false,
    routes: null,
    version: 2,
    buildSkipped: false,
    prebuilt: d.prebuilt,
    ...(ready ? { ready: d.createdAt + queueMs + buildMs } : {}),
  };
}

export function buildEvents(fake: FakeState, d: FakeDeployment) {
  const base = d.createdAt + fake.queueMs;
  const lines = [
    { type: 'command', text: 'Running build in Washington, D.C., USA (East) – iad1' },
    { type: 'stdout', text: `Cloning deployment files: ${d.files.length} files` },
    { type: 'stdout', text: d.prebuilt ? 'Using prebuilt build artifacts...' : 'Running "npm run build"' },
    ...(d.output ?? []).map((text) => ({ type: 'stdout', text })),
    d.fails
      ? {
          type: 'stderr',
          text: `Error: ${d.failure ?? 'Command "npm run build" exited with 1'}`,
          level: 'error',
        }
      : { type: 'stdout', text: 'Build Completed in /vercel/output [80ms]' },
  ];
  return lines.map((line, i) => ({
    ...line,
    created: base + i,
    date: base + i,
    deploymentId: d.id,
    id: `evt_${d.id}_${i}`,
    serial: String(i),
    info: { type: 'build', name: 'bld_fake', entrypoint: '.' },
  }));
}
