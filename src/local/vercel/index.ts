/** A strict fake of the Vercel REST API deploy surface (research/vercel.md §7), with fault injection and a request record. */
import { createHash, randomBytes } from 'node:crypto';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';

export interface FakeProject {
  id: string;
  name: string;
  teamId: string;
  framework?: string | null;
  /** The project's domains (production and branch domains), as GET /v9/projects/:id/domains lists them. */
  domains?: string[];
  rootDirectory?: string | null;
}

/**
 * A project environment variable as the fake stores it. `vercel env pull` answers plain and encrypted
 * values decrypted; sensitive ones are write-only and come back as empty strings (docs/vercel-fake.md).
 */
export interface FakeEnvVar {
  projectId: string;
  key: string;
  value: string;
  type: 'plain' | 'encrypted' | 'sensitive';
  /** production | preview | development | a custom environment slug */
  target: string[];
  /** A preview variable that applies to one branch only. */
  gitBranch?: string;
}

export interface RecordedRequest {
  method: string;
  path: string;
  query: Record<string, string>;
  headers: Record<string, string | string[] | undefined>;
  bytes: number;
  json?: unknown;
}

/** `reset-after`: the request is processed, then the connection drops without an answer (ambiguous). */
/** `403`: Vercel's answer for a resource of a team the token may not see. */
export type FaultKind = 403 | 429 | 500 | 502 | 503 | 'reset' | 'reset-after' | 'slow';

export interface Fault {
  kind: FaultKind;
  method?: string;
  /** Matches the request path (string = prefix). */
  path?: string | RegExp;
  /** How many matching requests it hits; default 1. */
  times?: number;
  retryAfterSeconds?: number;
  delayMs?: number;
}

export interface FakeDeployment {
  id: string;
  url: string;
  name: string;
  projectId: string;
  teamId: string;
  target: string | null;
  customEnvironment?: string;
  createdAt: number;
  canceled: boolean;
  fails: boolean;
  /** Why the build fails, when it is not the generic build error (a Root Directory with nothing in it). */
  failure?: string;
  prebuilt: boolean;
  /** A production deployment created with `autoAssignCustomDomains: false`: built, but not serving production. */
  staged: boolean;
  body: Record<string, unknown>;
  files: { file: string; sha?: string; size?: number; mode?: number; data?: string }[];
}

export interface VercelFakeOptions {
  tokens?: string[];
  teams?: { id: string; slug: string }[];
  projects?: FakeProject[];
  /** Time a deployment spends QUEUED and then BUILDING; identical for every client measured. */
  queueMs?: number;
  buildMs?: number;
  /** Probability of a random 5xx/429/reset on any request (seeded, deterministic). */
  faultRate?: number;
  seed?: number;
  /** Keep uploaded contents up to this size (tests read them back); larger blobs keep only size. */
  keepBytes?: number;
  /** The projects' environment variables (default: a few for prj_marketing, secrets among them). */
  env?: FakeEnvVar[];
  /** How long a promotion stays in progress before production points at the deployment. */
  promoteMs?: number;
}

export interface VercelFake {
  url: string;
  requests: RecordedRequest[];
  deployments: Map<string, FakeDeployment>;
  blobs: Map<string, { size: number; data?: Buffer }>;
  /** Assigned aliases: host name → deployment id. */
  aliases: Map<string, string>;
  env: FakeEnvVar[];
  /** The deployment production currently points at, per project id. */
  productionOf(projectId: string): string | undefined;
  inject(fault: Fault): void;
  setFaultRate(rate: number): void;
  clearRecord(): void;
  close(): Promise<void>;
}

const TERMINAL = new Set(['READY', 'ERROR', 'CANCELED']);

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
];

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

/**
 * A project with a Root Directory builds from that folder of the upload (and a prebuilt deploy
 * reads its `.vercel/output` there); `projectSettings.rootDirectory` in the body overrides it.
 */
function rootDirectoryProblem(
  project: FakeProject,
  body: Record<string, unknown>,
  files: FakeDeployment['files'],
  prebuilt: boolean,
): string | undefined {
  const settings = body.projectSettings as Record<string, unknown> | undefined;
  const root = settings && 'rootDirectory' in settings ? settings.rootDirectory : project.rootDirectory;
  if (typeof root !== 'string' || root === '' || root === '.') return undefined;
  const folder = `${root.replace(/\/+$/, '')}/`;
  if (prebuilt) {
    return files.some((f) => f.file.startsWith(`${folder}.vercel/output/`))
      ? undefined
      : `No prebuilt output found in "${folder}.vercel/output". Run "vercel build" in the Root Directory.`;
  }
  return files.some((f) => f.file.startsWith(folder))
    ? undefined
    : `The specified Root Directory "${root}" does not exist. Please update your Project Settings.`;
}

export async function startVercelFake(options: VercelFakeOptions = {}): Promise<VercelFake> {
  const tokens = new Set(options.tokens ?? ['vercel_upstream_token_for_tests']);
  const teams = options.teams ?? [{ id: 'team_abc123', slug: 'acme' }];
  const projects = options.projects ?? [
    {
      id: 'prj_marketing',
      name: 'marketing-site',
      teamId: 'team_abc123',
      framework: null,
      domains: ['www.acme.dev'],
    },
    { id: 'prj_billing', name: 'billing', teamId: 'team_abc123', framework: null },
  ];
  const queueMs = options.queueMs ?? 20;
  const buildMs = options.buildMs ?? 80;
  const keepBytes = options.keepBytes ?? 1024 * 1024;
  const random = mulberry32(options.seed ?? 42);
  let faultRate = options.faultRate ?? 0;
  const faults: Fault[] = [];
  const requests: RecordedRequest[] = [];
  const deployments = new Map<string, FakeDeployment>();
  const blobs = new Map<string, { size: number; data?: Buffer }>();
  const aliases = new Map<string, string>();
  const env = options.env ?? DEFAULT_ENV;
  const promoteMs = options.promoteMs ?? 60;
  /** Promotions per project, newest last: `at` is when production starts pointing at the deployment. */
  const promotions = new Map<
    string,
    { from?: string; to: string; requestedAt: number; at: number; type: 'promote' }[]
  >();

  const send = (res: ServerResponse, status: number, body: unknown, headers: Record<string, string> = {}) => {
    res.writeHead(status, { 'content-type': 'application/json; charset=utf-8', ...headers });
    res.end(JSON.stringify(body));
  };
  const error = (
    res: ServerResponse,
    status: number,
    code: string,
    message: string,
    extra: Record<string, unknown> = {},
    headers: Record<string, string> = {},
  ) => send(res, status, { error: { code, message, ...extra } }, headers);

  function stateOf(d: FakeDeployment): string {
    if (d.canceled) return 'CANCELED';
    const age = Date.now() - d.createdAt;
    if (age < queueMs) return 'QUEUED';
    if (age < queueMs + buildMs) return 'BUILDING';
    return d.fails ? 'ERROR' : 'READY';
  }

  const readyAt = (d: FakeDeployment) => d.createdAt + queueMs + buildMs;

  /**
   * Production points at the newest of: a non-staged production deployment that became READY, or a
   * finished promotion. Staged deployments never take production by themselves (Vercel's model).
   */
  function productionOf(projectId: string): string | undefined {
    const now = Date.now();
    const events: { id: string; at: number }[] = [];
    for (const d of deployments.values()) {
      if (d.projectId !== projectId || d.target !== 'production' || d.staged || d.canceled || d.fails)
        continue;
      if (readyAt(d) <= now) events.push({ id: d.id, at: readyAt(d) });
    }
    for (const p of promotions.get(projectId) ?? []) if (p.at <= now) events.push({ id: p.to, at: p.at });
    return events.sort((a, b) => a.at - b.at).at(-1)?.id;
  }

  /** The project's last alias job, shaped like Vercel's `lastAliasRequest` (what `vercel promote` polls). */
  function lastAliasRequest(projectId: string) {
    const last = promotions.get(projectId)?.at(-1);
    if (!last) return null;
    return {
      fromDeploymentId: last.from ?? null,
      toDeploymentId: last.to,
      jobStatus: Date.now() >= last.at ? 'succeeded' : 'in-progress',
      requestedAt: last.requestedAt,
      type: last.type,
    };
  }

  /** What `/v3/env/pull` answers: the target's variables (branch overrides win), sensitive ones empty. */
  function pulledEnv(projectId: string, target: string, branch: string | undefined) {
    const values: Record<string, string> = {};
    const applies = (v: FakeEnvVar) => v.projectId === projectId && v.target.includes(target);
    for (const v of env.filter((x) => applies(x) && !x.gitBranch))
      values[v.key] = v.type === 'sensitive' ? '' : v.value;
    for (const v of env.filter((x) => applies(x) && x.gitBranch !== undefined && x.gitBranch === branch))
      values[v.key] = v.type === 'sensitive' ? '' : v.value;
    // Vercel adds a fresh OIDC token for the project to every pull (the CLI's `oidcTokenOnly` path reads it).
    return {
      env: { ...values, VERCEL_OIDC_TOKEN: `eyJhbGciOiJSUzI1NiJ9.fake-oidc-${projectId}-${target}.sig` },
      buildEnv: { ...values },
    };
  }

  /** The full deployment object: every key @vercel/sdk needs to avoid its 4-key fallback (§3.5). */
  function view(d: FakeDeployment) {
    const state = stateOf(d);
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
            ...[...aliases].filter(([, id]) => id === d.id).map(([name]) => name),
          ]
        : [],
      readyState: state,
      status: state,
      ...(state === 'ERROR'
        ? { errorCode: 'BUILD_FAILED', errorMessage: d.failure ?? 'Command "npm run build" exited with 1' }
        : {}),
      type: 'LAMBDAS',
      target: d.target,
      ...(d.customEnvironment ? { customEnvironment: { slug: d.customEnvironment } } : {}),
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

  function buildEvents(d: FakeDeployment) {
    const base = d.createdAt + queueMs;
    const lines = [
      { type: 'command', text: 'Running build in Washington, D.C., USA (East) – iad1' },
      { type: 'stdout', text: `Cloning deployment files: ${d.files.length} files` },
      { type: 'stdout', text: d.prebuilt ? 'Using prebuilt build artifacts...' : 'Running "npm run build"' },
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

  function matchFault(req: IncomingMessage, path: string): Fault | undefined {
    const index = faults.findIndex(
      (f) =>
        (!f.method || f.method === req.method) &&
        (!f.path || (typeof f.path === 'string' ? path.startsWith(f.path) : f.path.test(path))),
    );
    if (index !== -1) {
      const fault = faults[index]!;
      fault.times = (fault.times ?? 1) - 1;
      if (fault.times <= 0) faults.splice(index, 1);
      return fault;
    }
    if (faultRate > 0 && random() < faultRate) {
      const kinds: FaultKind[] = [429, 500, 502, 503, 'reset', 'reset-after'];
      return { kind: kinds[Math.floor(random() * kinds.length)]!, retryAfterSeconds: 0 };
    }
    return undefined;
  }

  /** Uploads keep their contents up to `keepBytes`; JSON bodies (`limit` = Infinity) are always kept. */
  async function readBody(
    req: IncomingMessage,
    hash = false,
    limit = keepBytes,
  ): Promise<{ bytes: number; data?: Buffer; sha?: string }> {
    const sha1 = hash ? createHash('sha1') : undefined;
    const chunks: Buffer[] = [];
    let bytes = 0;
    for await (const chunk of req as AsyncIterable<Buffer>) {
      bytes += chunk.length;
      sha1?.update(chunk);
      if (bytes <= limit) chunks.push(chunk);
    }
    return {
      bytes,
      ...(bytes <= limit ? { data: Buffer.concat(chunks) } : {}),
      ...(sha1 ? { sha: sha1.digest('hex') } : {}),
    };
  }

  function teamOf(query: URLSearchParams): string | undefined {
    const teamId = query.get('teamId');
    const slug = query.get('slug');
    return teamId ?? teams.find((t) => t.slug === slug)?.id;
  }

  async function handle(req: IncomingMessage, res: ServerResponse) {
    const url = new URL(req.url ?? '/', 'http://fake');
    const path = url.pathname;
    const query = url.searchParams;
    const record: RecordedRequest = {
      method: req.method ?? 'GET',
      path,
      query: Object.fromEntries(query),
      headers: { ...req.headers },
      bytes: 0,
    };
    requests.push(record);

    const fault = matchFault(req, path);
    if (fault) {
      if (fault.kind === 'reset') {
        req.socket.destroy();
        return;
      }
      if (fault.kind === 'reset-after') {
        // Let the handler do its work, then lose the answer on the way back.
        res.writeHead = (() => {
          req.socket.destroy();
          return res;
        }) as typeof res.writeHead;
        res.end = (() => res) as typeof res.end;
        res.write = (() => true) as typeof res.write;
      } else if (fault.kind === 'slow') {
        await new Promise((r) => setTimeout(r, fault.delayMs ?? 1000));
      } else {
        // Drain the body so the client sees the status, not a broken pipe.
        for await (const _ of req) void _;
        const retry = String(fault.retryAfterSeconds ?? 1);
        if (fault.kind === 429) {
          return error(
            res,
            429,
            'rate_limited',
            'Rate limit exceeded',
            {
              limit: {
                remaining: 0,
                reset: Math.ceil(Date.now() / 1000) + 1,
                resetMs: Date.now() + 1000,
                total: 100,
              },
            },
            { 'retry-after': retry },
          );
        }
        if (fault.kind === 403)
          return error(res, 403, 'forbidden', "You don't have permission to access this resource", {});
        return error(
          res,
          fault.kind,
          'internal_server_error',
          'An unexpected internal error occurred',
          {},
          fault.kind === 503 ? { 'retry-after': retry } : {},
        );
      }
    }

    const auth = req.headers.authorization ?? '';
    const token = auth.startsWith('Bearer ') ? auth.slice(7) : '';
    if (!tokens.has(token)) {
      for await (const _ of req) void _;
      return error(res, 403, 'forbidden', 'Not authorized');
    }
    const team = teamOf(query);
    const method = req.method;
    let m: RegExpExecArray | null;

    if (method === 'POST' && path === '/v2/files') {
      const digest = (req.headers['x-vercel-digest'] ?? req.headers['x-now-digest']) as string | undefined;
      const declared = [req.headers['content-length'], req.headers['x-now-size']].filter(
        (v): v is string => typeof v === 'string',
      );
      if (!digest || !/^[0-9a-f]{40}$/i.test(digest))
        return error(res, 400, 'bad_request', 'Missing or invalid x-vercel-digest header');
      if (declared.length === 0)
        return error(res, 400, 'bad_request', 'Missing Content-Length or x-now-size header');
      const body = await readBody(req, true);
      record.bytes = body.bytes;
      if (declared.some((d) => Number(d) !== body.bytes))
        return error(
          res,
          400,
          'bad_request',
          `File size mismatch: declared ${declared.join('/')}, received ${body.bytes}`,
        );
      if (body.sha !== digest.toLowerCase())
        return error(res, 400, 'bad_request', 'The file digest does not match the body');
      blobs.set(body.sha!, { size: body.bytes, ...(body.data ? { data: body.data } : {}) });
      return send(res, 200, {});
    }

    if (method === 'POST' && path === '/v13/deployments') {
      const raw = await readBody(req, false, Infinity);
      record.bytes = raw.bytes;
      let body: Record<string, unknown>;
      try {
        body = JSON.parse(raw.data?.toString('utf8') ?? '') as Record<string, unknown>;
        record.json = body;
      } catch {
        return error(res, 400, 'bad_request', 'Invalid JSON body');
      }
      if (typeof body.name !== 'string')
        return error(res, 400, 'bad_request', 'Invalid request: missing required property `name`', {
          keyword: 'required',
          dataPath: '',
        });
      const project = projects.find(
        (p) =>
          (p.id === body.project || (!body.project && p.name === body.name)) && (!team || p.teamId === team),
      );
      if (!project)
        return error(res, 404, 'not_found', `Project not found: ${String(body.project ?? body.name)}`);
      const files = (body.files ?? []) as FakeDeployment['files'];
      const missing = [
        ...new Set(
          files.filter((f) => f.data === undefined && (!f.sha || !blobs.has(f.sha))).map((f) => f.sha!),
        ),
      ];
      if (missing.length > 0) return error(res, 400, 'missing_files', 'Missing files', { missing });
      const id = `dpl_${randomBytes(12).toString('hex')}`;
      const prebuilt = query.get('prebuilt') === '1';
      const failure = rootDirectoryProblem(project, body, files, prebuilt);
      const d: FakeDeployment = {
        id,
        url: `${project.name}-${id.slice(4, 13)}-acme.vercel.app`,
        name: project.name,
        projectId: project.id,
        teamId: project.teamId,
        target: body.target === 'production' ? 'production' : null,
        ...(typeof body.customEnvironmentSlugOrId === 'string'
          ? { customEnvironment: body.customEnvironmentSlugOrId }
          : {}),
        createdAt: Date.now(),
        canceled: false,
        fails: failure !== undefined || files.some((f) => /(^|\/)FAIL_BUILD$/.test(f.file)),
        ...(failure ? { failure } : {}),
        prebuilt,
        staged: body.target === 'production' && body.autoAssignCustomDomains === false,
        body,
        files,
      };
      deployments.set(id, d);
      return send(res, 200, view(d));
    }

    if (method === 'GET' && (m = /^\/v13\/deployments\/([^/]+)$/.exec(path))) {
      const d = deployments.get(m[1]!) ?? [...deployments.values()].find((x) => x.url === m![1]);
      if (!d || (team && d.teamId !== team))
        return error(res, 404, 'not_found', 'The deployment was not found');
      return send(res, 200, view(d));
    }

    if (method === 'GET' && (m = /^\/v3\/(?:now\/)?deployments\/([^/]+)\/events$/.exec(path))) {
      const d = deployments.get(m[1]!);
      if (!d || (team && d.teamId !== team))
        return error(res, 404, 'not_found', 'The deployment was not found');
      const events = buildEvents(d);
      if (query.get('follow') !== '1') return send(res, 200, events);
      res.writeHead(200, { 'content-type': 'application/stream+json; charset=utf-8' });
      let sent = 0;
      const tick = () => {
        const state = stateOf(d);
        const due = TERMINAL.has(state)
          ? events.length
          : Math.min(
              events.length - 1,
              Math.floor(((Date.now() - d.createdAt) / (queueMs + buildMs)) * events.length),
            );
        while (sent < due) res.write(`${JSON.stringify(events[sent++])}\n`);
        if (TERMINAL.has(state)) {
          if (state === 'READY')
            res.write(
              `${JSON.stringify({ type: 'alias-assigned', deploymentId: d.id, date: Date.now(), alias: view(d).alias })}\n`,
            );
          res.end();
          return;
        }
        setTimeout(tick, 10);
      };
      tick();
      return undefined;
    }

    if (method === 'GET' && path === '/v6/deployments') {
      const list = [...deployments.values()]
        .filter(
          (d) =>
            (!query.get('projectId') || d.projectId === query.get('projectId')) &&
            (!team || d.teamId === team),
        )
        .sort((a, b) => b.createdAt - a.createdAt)
        .slice(0, Number(query.get('limit') ?? 20))
        .map((d) => ({
          uid: d.id,
          name: d.name,
          url: d.url,
          created: d.createdAt,
          state: stateOf(d),
          meta: d.body.meta ?? {},
        }));
      return send(res, 200, {
        deployments: list,
        pagination: { count: list.length, next: null, prev: null },
      });
    }

    if (method === 'PATCH' && (m = /^\/v12\/deployments\/([^/]+)\/cancel$/.exec(path))) {
      const d = deployments.get(m[1]!);
      if (!d || (team && d.teamId !== team))
        return error(res, 404, 'not_found', 'The deployment was not found');
      if (!TERMINAL.has(stateOf(d))) d.canceled = true;
      return send(res, 200, view(d));
    }

    if (method === 'POST' && (m = /^\/v2\/deployments\/([^/]+)\/aliases$/.exec(path))) {
      // Vercel's "Assign an Alias": moves the alias from whatever deployment held it.
      const raw = await readBody(req, false, Infinity);
      record.bytes = raw.bytes;
      let body: { alias?: unknown; redirect?: unknown };
      try {
        body = JSON.parse(raw.data?.toString('utf8') ?? '') as typeof body;
        record.json = body;
      } catch {
        return error(res, 400, 'bad_request', 'Invalid JSON body');
      }
      const d = deployments.get(m[1]!) ?? [...deployments.values()].find((x) => x.url === m![1]);
      if (!d || (team && d.teamId !== team))
        return error(res, 404, 'not_found', 'The deployment was not found');
      if (typeof body.alias !== 'string' || body.alias === '')
        return error(res, 400, 'bad_request', 'Invalid request: missing required property `alias`');
      if (stateOf(d) !== 'READY')
        return error(res, 400, 'deployment_not_ready', 'The deployment is not READY and can not be aliased');
      const old = aliases.get(body.alias);
      aliases.set(body.alias, d.id);
      return send(res, 200, {
        uid: `alias_${randomBytes(8).toString('hex')}`,
        alias: body.alias,
        created: new Date().toISOString(),
        ...(old && old !== d.id ? { oldDeploymentId: old } : {}),
      });
    }

    if (method === 'GET' && (m = /^\/v4\/aliases\/([^/]+)$/.exec(path))) {
      const id = aliases.get(m[1]!);
      const d = id ? deployments.get(id) : undefined;
      if (!d || (team && d.teamId !== team)) return error(res, 404, 'not_found', 'The alias was not found');
      return send(res, 200, {
        uid: `alias_${m[1]!.length}`,
        alias: m[1],
        deploymentId: d.id,
        projectId: d.projectId,
        createdAt: d.createdAt,
      });
    }

    if (method === 'GET' && (m = /^\/v9\/projects\/([^/]+)\/domains$/.exec(path))) {
      const p = projects.find((x) => (x.id === m![1] || x.name === m![1]) && (!team || x.teamId === team));
      if (!p) return error(res, 404, 'not_found', 'Project not found');
      const domains = (p.domains ?? []).map((name) => ({
        name,
        apexName: name.split('.').slice(-2).join('.'),
        projectId: p.id,
        redirect: null,
        gitBranch: null,
        verified: true,
      }));
      return send(res, 200, { domains, pagination: { count: domains.length, next: null, prev: null } });
    }

    if (method === 'GET' && (m = /^\/v9\/projects\/([^/]+)$/.exec(path))) {
      const p = projects.find((x) => (x.id === m![1] || x.name === m![1]) && (!team || x.teamId === team));
      if (!p) return error(res, 404, 'not_found', 'Project not found');
      return send(res, 200, {
        id: p.id,
        name: p.name,
        accountId: p.teamId,
        framework: p.framework ?? null,
        rootDirectory: p.rootDirectory ?? null,
        buildCommand: null,
        devCommand: null,
        installCommand: null,
        outputDirectory: null,
        nodeVersion: '24.x',
        createdAt: 1700000000000,
        updatedAt: 1700000000000,
        directoryListing: false,
        sourceFilesOutsideRootDirectory: true,
        targets: productionOf(p.id)
          ? { production: { id: productionOf(p.id), url: deployments.get(productionOf(p.id)!)?.url } }
          : {},
        lastAliasRequest: lastAliasRequest(p.id),
        // What a real project answer also carries and a deploy-only client must never see:
        env: [
          { key: 'DATABASE_URL', value: 'postgres://secret-in-project-settings', target: ['production'] },
        ],
        link: {
          type: 'github',
          repo: 'marketing',
          org: 'acme',
          deployHooks: [{ url: 'https://api.vercel.com/v1/integrations/deploy/secret-hook' }],
        },
      });
    }

    if (method === 'GET' && (m = /^\/v3\/env\/pull\/([^/]+)(?:\/([^/]+)(?:\/([^/]+))?)?$/.exec(path))) {
      const p = projects.find((x) => (x.id === m![1] || x.name === m![1]) && (!team || x.teamId === team));
      if (!p) return error(res, 404, 'not_found', 'Project not found');
      const target = decodeURIComponent(m[2] ?? 'development');
      const branch = m[3] === undefined ? undefined : decodeURIComponent(m[3]);
      return send(res, 200, pulledEnv(p.id, target, branch));
    }
    if (method === 'GET' && (m = /^\/v10\/projects\/([^/]+)\/env$/.exec(path))) {
      const p = projects.find((x) => (x.id === m![1] || x.name === m![1]) && (!team || x.teamId === team));
      if (!p) return error(res, 404, 'not_found', 'Project not found');
      const decrypt = query.get('decrypt') === 'true';
      return send(res, 200, {
        envs: env
          .filter((v) => v.projectId === p.id)
          .map((v, i) => ({
            id: `env_${i}`,
            key: v.key,
            type: v.type,
            target: v.target,
            ...(v.gitBranch ? { gitBranch: v.gitBranch } : {}),
            value:
              v.type === 'sensitive'
                ? ''
                : decrypt
                  ? v.value
                  : `enc:${Buffer.from(v.value).toString('base64')}`,
            decrypted: decrypt && v.type !== 'sensitive',
          })),
      });
    }
    if (method === 'POST' && (m = /^\/v10\/projects\/([^/]+)\/promote\/([^/]+)$/.exec(path))) {
      for await (const _ of req) void _;
      const p = projects.find((x) => (x.id === m![1] || x.name === m![1]) && (!team || x.teamId === team));
      if (!p) return error(res, 404, 'not_found', 'Project not found');
      const d = deployments.get(m[2]!);
      if (!d || d.projectId !== p.id) return error(res, 404, 'not_found', 'Deployment not found');
      if (stateOf(d) !== 'READY')
        return error(res, 400, 'deployment_not_ready', 'The deployment is not READY and cannot be promoted');
      // Vercel's promote "does NOT rebuild": a preview has to be rebuilt with a create instead.
      if (d.target !== 'production')
        return error(
          res,
          400,
          'invalid_deployment_target',
          'Only production deployments can be promoted; create a new deployment from a preview',
        );
      const current = productionOf(p.id);
      if (current === d.id)
        return error(res, 409, 'already_current', 'The deployment already serves production');
      const now = Date.now();
      const list = promotions.get(p.id) ?? [];
      list.push({
        ...(current ? { from: current } : {}),
        to: d.id,
        requestedAt: now,
        at: now + promoteMs,
        type: 'promote',
      });
      promotions.set(p.id, list);
      res.writeHead(201);
      res.end();
      return undefined;
    }
    if (method === 'GET' && (m = /^\/teams\/([^/]+)$/.exec(path))) {
      const t = teams.find((x) => x.id === m![1]);
      return t
        ? send(res, 200, { id: t.id, slug: t.slug, name: t.slug })
        : error(res, 404, 'not_found', 'Team not found');
    }
    if (method === 'GET' && path === '/v2/user') {
      return send(res, 200, {
        user: { id: 'usr_fake', username: 'owner', email: 'owner@example.com', defaultTeamId: teams[0]?.id },
      });
    }
    for await (const _ of req) void _;
    return error(res, 404, 'not_found', `The requested path ${path} was not found`);
  }

  const server: Server = createServer((req, res) => {
    handle(req, res).catch((e: unknown) => {
      if (!res.headersSent) error(res, 500, 'internal_server_error', String(e));
      else res.destroy();
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}`,
    requests,
    deployments,
    blobs,
    aliases,
    env,
    productionOf,
    inject: (fault) => faults.push({ times: 1, ...fault }),
    setFaultRate: (rate) => {
      faultRate = rate;
    },
    clearRecord: () => {
      requests.length = 0;
    },
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}
