/** The fake's memory: the settings it was started with, and every deployment, blob, alias and promotion. */
import type {
  Fault,
  FaultKind,
  FakeDeployment,
  FakeEnvVar,
  FakeProject,
  RecordedRequest,
  VercelFakeOptions,
} from './types.js';

/** prj_marketing's custom environment (the local world's config declares it as `staging`). */
export const STAGING = { id: 'env_staging0marketing', slug: 'staging' };

/** prj_marketing's variables: one a build may read, and secrets that must never leave the broker. */
export const DEFAULT_ENV: FakeEnvVar[] = [
  {
    projectId: 'prj_marketing',
    key: 'NEXT_PUBLIC_API_URL',
    value: 'https://api.acme.example',
    type: 'plain',
    target: ['production', 'preview', 'development'],
  },
  {
    projectId: 'prj_marketing',
    key: 'DATABASE_URL',
    value: 'postgres://decrypted-secret',
    type: 'encrypted',
    target: ['production', 'preview'],
  },
  {
    projectId: 'prj_marketing',
    key: 'STRIPE_SECRET_KEY',
    value: 'sk_live_sensitive_value',
    type: 'sensitive',
    target: ['production'],
  },
  {
    projectId: 'prj_marketing',
    key: 'NEXT_PUBLIC_API_URL',
    value: 'https://api.staging.acme.example',
    type: 'plain',
    target: ['staging'],
  },
  {
    projectId: 'prj_marketing',
    key: 'STAGING_DATABASE_URL',
    value: 'postgres://staging-secret',
    type: 'encrypted',
    target: ['staging'],
  },
];

/** A project's custom environment named by slug or id, as `customEnvironmentSlugOrId` and env pull name it. */
export const customEnvironmentOf = (project: FakeProject, slugOrId: string) =>
  project.customEnvironments?.find((e) => e.id === slugOrId || e.slug === slugOrId);

/** A small seeded PRNG (mulberry32): deterministic faults here, deterministic fuzzing elsewhere. */
export function mulberry32(seed: number) {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

export interface Promotion {
  from?: string;
  to: string;
  requestedAt: number;
  at: number;
  type: 'promote' | 'rollback';
}

export interface FakeState {
  tokens: Set<string>;
  teams: { id: string; slug: string }[];
  projects: FakeProject[];
  /** The team's domains (apexes): what GET /v5/domains lists. */
  domains: string[];
  queueMs: number;
  buildMs: number;
  keepBytes: number;
  promoteMs: number;
  deploymentHost?: string;
  random: () => number;
  faultRate: number;
  faultMix?: { kinds: Partial<Record<FaultKind, number>>; retryAfterSeconds: number };
  faults: Fault[];
  requests: RecordedRequest[];
  deployments: Map<string, FakeDeployment>;
  blobs: Map<string, { size: number; data?: Buffer }>;
  /** Assigned aliases: host name → deployment id. */
  aliases: Map<string, string>;
  env: FakeEnvVar[];
  /** Promotions per project, newest last: `at` is when production starts pointing at the deployment. */
  promotions: Map<string, Promotion[]>;
  /** Runtime-log streams the fake is still writing (a relay that buffered would keep them open to the end). */
  openLogStreams: number;
}

export function createState(options: VercelFakeOptions): FakeState {
  return {
    tokens: new Set(options.tokens ?? ['vercel_upstream_token_for_tests']),
    teams: options.teams ?? [{ id: 'team_abc123', slug: 'acme' }],
    projects: options.projects ?? [
      {
        id: 'prj_marketing',
        name: 'marketing-site',
        teamId: 'team_abc123',
        framework: null,
        domains: ['www.acme.dev'],
        customEnvironments: [STAGING],
      },
      { id: 'prj_billing', name: 'billing', teamId: 'team_abc123', framework: null },
    ],
    domains: options.domains ?? ['acme.dev'],
    queueMs: options.queueMs ?? 20,
    buildMs: options.buildMs ?? 80,
    keepBytes: options.keepBytes ?? 1024 * 1024,
    promoteMs: options.promoteMs ?? 60,
    ...(options.deploymentHost ? { deploymentHost: options.deploymentHost } : {}),
    random: mulberry32(options.seed ?? 42),
    faultRate: options.faultRate ?? 0,
    faults: [],
    requests: [],
    deployments: new Map(),
    blobs: new Map(),
    aliases: new Map(),
    env: options.env ?? DEFAULT_ENV,
    promotions: new Map(),
    openLogStreams: 0,
  };
}

/** The project named by id or name in a path, within the request's team when it names one. */
export const projectOf = (fake: FakeState, idOrName: string, team: string | undefined) =>
  fake.projects.find((x) => (x.id === idOrName || x.name === idOrName) && (!team || x.teamId === team));

/** The deployment named by id (or by url, where Vercel accepts either). */
export const deploymentOf = (fake: FakeState, idOrUrl: string, byUrl = false) =>
  fake.deployments.get(idOrUrl) ??
  (byUrl ? [...fake.deployments.values()].find((x) => x.url === idOrUrl) : undefined);
