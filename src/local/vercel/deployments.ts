/** Deployments: create (files must be uploaded, a Root Directory must hold something), read, follow, list, cancel. */
import { randomBytes } from 'node:crypto';
import { checkArchive, MAX_FILES } from './archive.js';
import { drain, error, readJson, send, type Route, type VercelRequest } from './http.js';
import { buildEvents, rollbackCandidates, stateOf, TERMINAL, view } from './lifecycle.js';
import { customEnvironmentOf, deploymentOf, type FakeState } from './state.js';
import type { FakeDeployment, FakeProject } from './types.js';

/** Vercel's function regions (vercel.com/docs/edge-network/regions). */
const REGIONS = new Set(
  'arn1 bom1 cdg1 cle1 cpt1 dub1 dxb1 fra1 gru1 hkg1 hnd1 iad1 icn1 kix1 lhr1 pdx1 sfo1 sin1 syd1 yul1'.split(
    ' ',
  ),
);

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

async function create(fake: FakeState, r: VercelRequest) {
  const { res, query, team } = r;
  const body = await readJson<Record<string, unknown>>(r);
  if (!body) return;
  if (typeof body.name !== 'string')
    return error(res, 400, 'bad_request', 'Invalid request: missing required property `name`', {
      keyword: 'required',
      dataPath: '',
    });
  const project = fake.projects.find(
    (p) => (p.id === body.project || (!body.project && p.name === body.name)) && (!team || p.teamId === team),
  );
  if (!project)
    return error(res, 404, 'not_found', `Project not found: ${String(body.project ?? body.name)}`);
  // Vercel's create takes `target` or `customEnvironmentSlugOrId`, and the latter must name one of the
  // project's custom environments (by slug or id).
  const custom = body.customEnvironmentSlugOrId;
  if (custom !== undefined && (typeof custom !== 'string' || body.target !== undefined))
    return error(
      res,
      400,
      'bad_request',
      'Invalid request: `customEnvironmentSlugOrId` must be a string and cannot be combined with `target`',
    );
  const customEnvironment = custom === undefined ? undefined : customEnvironmentOf(project, custom);
  if (custom !== undefined && !customEnvironment)
    return error(res, 404, 'not_found', `Custom environment "${custom}" not found`);
  const files = (body.files ?? []) as FakeDeployment['files'];
  const regions = body.regions as unknown;
  if (regions !== undefined && (!Array.isArray(regions) || regions.some((r) => !REGIONS.has(r as string))))
    return error(
      res,
      400,
      'bad_request',
      'Invalid request: `regions` must be an array of Vercel region ids',
      {
        keyword: 'enum',
        dataPath: '.regions',
      },
    );
  if (files.length > MAX_FILES)
    return error(res, 400, 'too_many_files', `'files' should NOT have more than ${MAX_FILES} items`);
  const missing = [
    ...new Set(
      files.filter((f) => f.data === undefined && (!f.sha || !fake.blobs.has(f.sha))).map((f) => f.sha!),
    ),
  ];
  if (missing.length > 0) return error(res, 400, 'missing_files', 'Missing files', { missing });
  const archive = await checkArchive(fake, files);
  if (archive.kind === 'refused') return error(res, 400, 'invalid_archive', archive.message);
  // An archive builds from what it unpacks to; unverified (bytes not kept), from its part names.
  const tree =
    archive.kind === 'archive' && archive.entries ? archive.entries.map((file) => ({ file })) : files;
  const id = `dpl_${randomBytes(12).toString('hex')}`;
  const prebuilt = query.get('prebuilt') === '1';
  // What the deployed code makes its build print or fail with (a dependency's install script
  // controls both): BUILD_OUTPUT's lines are printed, BUILD_ERROR's text is the build's error.
  const contentOf = (name: string) => {
    const file = files.find((f) => f.file === name || f.file.endsWith(`/${name}`));
    return file?.sha ? fake.blobs.get(file.sha)?.data?.toString('utf8') : undefined;
  };
  const output = contentOf('BUILD_OUTPUT');
  const failure = rootDirectoryProblem(project, body, tree, prebuilt) ?? contentOf('BUILD_ERROR');
  const d: FakeDeployment = {
    id,
    url: fake.deploymentHost ?? `${project.name}-${id.slice(4, 13)}-acme.vercel.app`,
    name: project.name,
    projectId: project.id,
    teamId: project.teamId,
    target: body.target === 'production' ? 'production' : null,
    ...(customEnvironment ? { customEnvironment } : {}),
    createdAt: Date.now(),
    canceled: false,
    fails: failure !== undefined || tree.some((f) => /(^|\/)FAIL_BUILD$/.test(f.file)),
    ...(failure ? { failure } : {}),
    prebuilt,
    ...(output !== undefined ? { output: output.split('\n') } : {}),
    staged: body.target === 'production' && body.autoAssignCustomDomains === false,
    body,
    files,
    ...(archive.kind === 'archive'
      ? { archive: { parts: archive.parts, ...(archive.entries ? { entries: archive.entries.length } : {}) } }
      : {}),
  };
  fake.deployments.set(id, d);
  return send(res, 200, view(fake, d));
}

/** The build events; with `follow=1`, a stream that ends when the deployment does. */
function events(fake: FakeState, { res, query, team }: VercelRequest, id: string) {
  const d = fake.deployments.get(id);
  if (!d || (team && d.teamId !== team)) return error(res, 404, 'not_found', 'The deployment was not found');
  const events = buildEvents(fake, d);
  if (query.get('follow') !== '1') {
    // `format=lines` (`vercel inspect --logs`): the same events, one JSON object per line.
    if (query.get('format') !== 'lines') return send(res, 200, events);
    res.writeHead(200, { 'content-type': 'application/stream+json; charset=utf-8' });
    res.end(events.map((e) => `${JSON.stringify(e)}\n`).join(''));
    return undefined;
  }
  res.writeHead(200, { 'content-type': 'application/stream+json; charset=utf-8' });
  let sent = 0;
  const tick = () => {
    const state = stateOf(fake, d);
    const due = TERMINAL.has(state)
      ? events.length
      : Math.min(
          events.length - 1,
          Math.floor(((Date.now() - d.createdAt) / (fake.queueMs + fake.buildMs)) * events.length),
        );
    while (sent < due) res.write(`${JSON.stringify(events[sent++])}\n`);
    if (TERMINAL.has(state)) {
      if (state === 'READY')
        res.write(
          `${JSON.stringify({ type: 'alias-assigned', deploymentId: d.id, date: Date.now(), alias: view(fake, d).alias })}\n`,
        );
      res.end();
      return;
    }
    setTimeout(tick, 10);
  };
  tick();
  return undefined;
}

/**
 * `GET /v6/deployments`: newest first, filtered as Vercel filters (projectId, target, state, and
 * `meta-<key>=<value>`, which the CLI's `ls --meta` sends), paged backwards with `until` (a createdAt).
 */
function list(fake: FakeState, { res, query, team }: VercelRequest) {
  const limit = Math.min(Number(query.get('limit') ?? 20), 100);
  const until = query.get('until') === null ? Infinity : Number(query.get('until'));
  const states = query.get('state')?.split(',');
  const target = query.get('target');
  const metaFilters = [...query].filter(([key]) => key.startsWith('meta-'));
  const candidates = (d: FakeDeployment) => rollbackCandidates(fake, d.projectId).has(d.id);
  const matching = [...fake.deployments.values()]
    .filter(
      (d) =>
        (!query.get('projectId') || d.projectId === query.get('projectId')) &&
        (!team || d.teamId === team) &&
        d.createdAt < until &&
        (!target || d.target === target || (target === 'preview' && d.target === null)) &&
        (!states || states.includes(stateOf(fake, d))) &&
        (query.get('rollbackCandidate') !== 'true' || candidates(d)) &&
        metaFilters.every(
          ([key, value]) => (d.body.meta as Record<string, string> | undefined)?.[key.slice(5)] === value,
        ),
    )
    .sort((a, b) => b.createdAt - a.createdAt);
  const page = matching.slice(0, limit);
  const deployments = page.map((d) => {
    const full = view(fake, d);
    return {
      uid: d.id,
      name: d.name,
      url: d.url,
      created: d.createdAt,
      createdAt: d.createdAt,
      state: full.readyState,
      readyState: full.readyState,
      type: 'LAMBDAS',
      target: d.target,
      ...(d.customEnvironment
        ? { customEnvironment: { id: `env_${d.customEnvironment}`, slug: d.customEnvironment } }
        : {}),
      projectId: d.projectId,
      ...(d.target === 'production' ? { isRollbackCandidate: candidates(d) } : {}),
      creator: { uid: 'usr_fake' },
      inspectorUrl: full.inspectorUrl,
      meta: d.body.meta ?? {},
    };
  });
  const next = matching.length > limit ? page.at(-1)!.createdAt : null;
  return send(res, 200, {
    deployments,
    pagination: { count: deployments.length, next, prev: null },
  });
}

/** `DELETE /v13/deployments/:id` (or `?url=`): Vercel answers `{uid, state: "DELETED"}`; its aliases go with it. */
function remove(fake: FakeState, { res, team, query }: VercelRequest, id: string) {
  const d = deploymentOf(fake, query.get('url') ?? id, true);
  if (!d || (team && d.teamId !== team)) return error(res, 404, 'not_found', 'The deployment was not found');
  fake.deployments.delete(d.id);
  for (const [alias, target] of fake.aliases) if (target === d.id) fake.aliases.delete(alias);
  return send(res, 200, { uid: d.id, state: 'DELETED' });
}

export const deploymentRoutes: Route[] = [
  { method: 'POST', path: /^\/v13\/deployments$/, handle: create },
  {
    method: 'GET',
    path: /^\/v13\/deployments\/([^/]+)$/,
    handle: (fake, { res, team }, m) => {
      const d = deploymentOf(fake, m[1]!, true);
      if (!d || (team && d.teamId !== team))
        return error(res, 404, 'not_found', 'The deployment was not found');
      return send(res, 200, view(fake, d));
    },
  },
  {
    method: 'GET',
    path: /^\/v3\/(?:now\/)?deployments\/([^/]+)\/events$/,
    handle: (fake, r, m) => events(fake, r, m[1]!),
  },
  { method: 'GET', path: /^\/v6\/deployments$/, handle: list },
  {
    method: 'DELETE',
    path: /^\/v13\/deployments\/([^/]+)$/,
    handle: async (fake, r, m) => {
      await drain(r.req);
      return remove(fake, r, m[1]!);
    },
  },
  {
    method: 'PATCH',
    path: /^\/v12\/deployments\/([^/]+)\/cancel$/,
    handle: (fake, { res, team }, m) => {
      const d = fake.deployments.get(m[1]!);
      if (!d || (team && d.teamId !== team))
        return error(res, 404, 'not_found', 'The deployment was not found');
      if (!TERMINAL.has(stateOf(fake, d))) d.canceled = true;
      return send(res, 200, view(fake, d));
    },
  },
];
