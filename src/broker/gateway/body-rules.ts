/** Checks and rewrites the `POST /v13/deployments` body: the pin, the target and provenance come from the credential. */
import type { CredentialClaims } from '../credential/credential.js';
import { badRequest, forbidden } from '../errors.js';

/** Fields that could escape the pin (research/vercel.md §3.4): refused by name. */
const REFUSED_FIELDS: Record<string, string> = {
  deploymentId: 'redeploys an existing deployment, possibly of another project',
  withLatestCommit: 'belongs to redeploys',
  gitSource: 'makes Vercel fetch code from a git repository instead of the uploaded files',
  gitAccessToken: 'is reserved for Vercel platform accounts',
  alias: 'could attach domains that serve another project',
};

/**
 * Everything else a client may send: the official CLI's body plus the `vercel.json` keys it merges in.
 * These act within the pinned project only (a source deploy runs a build anyway); anything unknown is refused.
 */
const ALLOWED_FIELDS = new Set([
  'name',
  'project',
  'target',
  'customEnvironmentSlugOrId',
  'files',
  'env',
  'build',
  'meta',
  'gitMetadata',
  'projectSettings',
  'source',
  'version',
  'regions',
  'functions',
  'routes',
  'rewrites',
  'redirects',
  'headers',
  'cleanUrls',
  'trailingSlash',
  'crons',
  'images',
  'framework',
  'buildCommand',
  'installCommand',
  'devCommand',
  'outputDirectory',
  'ignoreCommand',
  'builds',
  'bunVersion',
  'buildMachine',
  'monorepoManager',
  'actor',
  'autoAssignCustomDomains',
  'public',
  'github',
  'scope',
  'bulkRedirectsPath',
]);

const FILE_KEYS = new Set(['file', 'sha', 'size', 'mode', 'data', 'encoding']);
/**
 * Deepest nesting a pass-through field may have. Real `vercel.json` values nest a handful of
 * levels (routes → has → condition); thousands of levels would overflow JSON.stringify's stack.
 */
export const MAX_JSON_DEPTH = 32;
const PROVENANCE_META_PREFIXES = ['github', 'gitlab', 'bitbucket', 'keyhole'];
/** Client meta keys with these prefixes are refused outright: the broker's stamp and provenance live there. */
const RESERVED_META = /^(keyhole|github)/i;
/** An archive deploy (`vercel deploy --archive=tgz`) lists only these parts; Vercel unpacks them. */
const ARCHIVE_PART = /^\.vercel\/source\.tgz\.part([1-9][0-9]{0,5})$/;

export interface CreateContext {
  claims: CredentialClaims;
  projectName: string;
  allowProjectSettings: boolean;
  maxFiles: number;
  /** The job's byte budget: an archive larger than it could never be uploaded. */
  maxUploadBytes: number;
  serverUrl: string;
  /** The project's `build_env_names`: when set, the only names `env` and `build.env` may carry. */
  buildEnvNames?: readonly string[];
}

export interface CheckedCreate {
  body: Record<string, unknown>;
  /** Entries of the file list (for an archive deploy, its parts). */
  fileCount: number;
  /** An archive deploy: the number of parts and their bytes. */
  archive?: { parts: number; bytes: number };
  /** Fields the broker removed, so the audit line can say so. */
  dropped: string[];
}

const isObject = (v: unknown): v is Record<string, unknown> =>
  typeof v === 'object' && v !== null && !Array.isArray(v);

export function checkFilePath(path: unknown, where: string): string {
  if (typeof path !== 'string' || path.length === 0 || path.length > 1024) {
    throw forbidden(`${where}.file must be a non-empty relative path`);
  }
  if (path.startsWith('/') || path.includes('\\') || /^[A-Za-z]:/.test(path) || path.includes('\0')) {
    throw forbidden(`${where}.file ${JSON.stringify(path)} must be a relative POSIX path`);
  }
  if (path.split('/').some((segment) => segment === '..' || segment === '.' || segment === '')) {
    throw forbidden(`${where}.file ${JSON.stringify(path)} must not contain "..", "." or empty segments`);
  }
  return path;
}

function checkFiles(files: unknown, maxFiles: number): number {
  if (!Array.isArray(files)) throw forbidden('files must be an array');
  if (files.length > maxFiles)
    throw forbidden(`files has ${files.length} entries; this broker allows ${maxFiles}`);
  files.forEach((entry: unknown, i) => {
    const where = `files[${i}]`;
    if (!isObject(entry)) throw forbidden(`${where} must be an object`);
    for (const key of Object.keys(entry))
      if (!FILE_KEYS.has(key)) throw forbidden(`${where}.${key} is not allowed`);
    checkFilePath(entry.file, where);
    if (Object.hasOwn(entry, 'data')) {
      if (typeof entry.data !== 'string') throw forbidden(`${where}.data must be a string`);
      if (entry.encoding !== undefined && entry.encoding !== 'base64' && entry.encoding !== 'utf-8') {
        throw forbidden(`${where}.encoding must be base64 or utf-8`);
      }
    } else if (typeof entry.sha !== 'string' || !/^[0-9a-f]{40}$/.test(entry.sha)) {
      throw forbidden(`${where}.sha must be the file's SHA-1 in 40 lower-case hex digits`);
    }
    if (entry.size !== undefined && (!Number.isSafeInteger(entry.size) || (entry.size as number) < 0)) {
      throw forbidden(`${where}.size must be a non-negative integer`);
    }
    if (entry.mode !== undefined && (!Number.isSafeInteger(entry.mode) || (entry.mode as number) < 0)) {
      throw forbidden(`${where}.mode must be a non-negative integer`);
    }
  });
  return files.length;
}

/**
 * An archive create lists `.vercel/source.tgz.part1…N` and nothing else: contiguous, each once,
 * each with its size, the whole within the job's byte budget. Anything else that names a part
 * is refused, so a file list can never pass half as an archive (fail closed).
 */
function checkArchive(files: unknown[], maxUploadBytes: number): CheckedCreate['archive'] {
  const parts = files.map((entry) => ARCHIVE_PART.exec((entry as { file: string }).file));
  if (!parts.some(Boolean)) return undefined;
  if (!parts.every(Boolean))
    throw forbidden('an archive deploy lists only its parts .vercel/source.tgz.part1…N, no other files');
  const numbers = new Set(parts.map((m) => Number(m![1])));
  if (numbers.size !== parts.length || [...numbers].some((n) => n > parts.length))
    throw forbidden(`an archive's parts must be numbered 1 to ${parts.length}, each once`);
  let bytes = 0;
  files.forEach((entry, i) => {
    const { size, data } = entry as { size?: unknown; data?: unknown };
    if (data !== undefined || typeof size !== 'number')
      throw forbidden(
        `files[${i}] is an archive part: send its sha and size, and upload it through /v2/files`,
      );
    bytes += size;
  });
  if (bytes > maxUploadBytes)
    throw forbidden(`the archive has ${bytes} bytes; this broker lets a job upload ${maxUploadBytes}`);
  return { parts: parts.length, bytes };
}

/** `@name` values were Vercel's (team-wide) secret references: refused so no other secret can be read. */
function checkEnv(value: unknown, where: string, ctx: CreateContext): void {
  if (value === undefined) return;
  if (!isObject(value)) throw forbidden(`${where} must be an object of strings`);
  for (const [key, v] of Object.entries(value)) {
    if (typeof v !== 'string') throw forbidden(`${where}.${key} must be a string`);
    if (ctx.buildEnvNames && !ctx.buildEnvNames.includes(key))
      throw forbidden(
        `${where}.${key} is not allowed: build_env_names of project ${ctx.projectName} in the broker config lists the only names env and build.env may carry${ctx.buildEnvNames.length ? ` (${ctx.buildEnvNames.join(', ')})` : ' (none)'}`,
      );
    // Leading whitespace, control and zero-width characters could be trimmed on Vercel's side.
    if (v.replace(/^[\s\p{Cc}\p{Cf}]+/u, '').startsWith('@'))
      throw forbidden(`${where}.${key} starts with "@" (a secret reference); pass the value itself`);
  }
}

/** The deepest nesting of `value`, measured with an explicit stack (never recursion), stopping past `max`. */
function depthOf(value: unknown, max: number): number {
  let deepest = 0;
  const stack: [unknown, number][] = [[value, 1]];
  while (stack.length > 0) {
    const [node, depth] = stack.pop()!;
    if (typeof node !== 'object' || node === null) continue;
    deepest = Math.max(deepest, depth);
    if (deepest > max) return deepest;
    for (const child of Array.isArray(node) ? node : Object.values(node)) stack.push([child, depth + 1]);
  }
  return deepest;
}

function deployTarget(body: Record<string, unknown>): string {
  const { target, customEnvironmentSlugOrId: custom } = body;
  if (target !== undefined && typeof target !== 'string') throw forbidden('target must be a string');
  if (custom !== undefined && typeof custom !== 'string')
    throw forbidden('customEnvironmentSlugOrId must be a string');
  if (custom !== undefined && target !== undefined && target !== custom) {
    throw forbidden('target and customEnvironmentSlugOrId disagree; send one of them');
  }
  return custom ?? target ?? 'preview';
}

/** Events whose job deploys code it did not check out itself (research/oidc.md §7.2 #12). */
const SECONDHAND_EVENTS = new Set(['workflow_run', 'pull_request_target', 'issue_comment']);

/** Does this credential's job deploy code it did not check out itself (its ref and sha are the base's)? */
export const isSecondHand = (claims: CredentialClaims): boolean =>
  claims.evt !== undefined && SECONDHAND_EVENTS.has(claims.evt);

function provenance(claims: CredentialClaims, serverUrl: string) {
  const [org, repo] = claims.repo.split('/');
  const branch = claims.ref.replace(/^refs\/heads\//, '');
  const runUrl = `${serverUrl}/${claims.repo}/actions/runs/${claims.run}/attempts/${claims.att}`;
  if (isSecondHand(claims)) {
    // The job's sha and ref are the base repository's (where the reviewed workflow ran), not the
    // code deployed, which a pull request's run built. Nothing verified names that code: stamping
    // the base commit as the deployment's commit would be a lie, so only what is verified is said,
    // under names that say what it is.
    return {
      meta: {
        keyholeEvent: claims.evt,
        keyholeBaseSha: claims.sha,
        keyholeBaseRef: claims.ref,
        githubRepoId: claims.rid,
        keyholeWorkflow: claims.wf,
        keyholeRunUrl: runUrl,
        keyholeCredentialId: claims.cid,
      },
      gitMetadata: {
        remoteUrl: `${serverUrl}/${claims.repo}`,
        dirty: false,
        ci: true,
        ciType: 'github-actions',
      },
    };
  }
  return {
    meta: {
      githubCommitSha: claims.sha,
      githubCommitRef: branch,
      githubCommitOrg: org ?? '',
      githubCommitRepo: repo ?? '',
      githubRepoId: claims.rid,
      keyholeRef: claims.ref,
      ...(claims.evt ? { keyholeEvent: claims.evt } : {}),
      keyholeWorkflow: claims.wf,
      keyholeRunUrl: runUrl,
      keyholeCredentialId: claims.cid,
    },
    gitMetadata: {
      remoteUrl: `${serverUrl}/${claims.repo}`,
      commitSha: claims.sha,
      commitRef: branch,
      dirty: false,
      ci: true,
      ciType: 'github-actions',
    },
  };
}

export function checkCreateBody(raw: unknown, ctx: CreateContext): CheckedCreate {
  if (!isObject(raw)) throw badRequest('the deployment body must be a JSON object');
  const dropped: string[] = [];
  for (const key of Object.keys(raw)) {
    // Own properties only: `constructor` or `__proto__` must not find Object.prototype's members.
    if (Object.hasOwn(REFUSED_FIELDS, key))
      throw forbidden(`field ${key} is not allowed: it ${REFUSED_FIELDS[key]}`);
    if (!ALLOWED_FIELDS.has(key))
      throw forbidden(`field ${key} is not allowed in a deployment through Keyhole`);
    if (depthOf(raw[key], MAX_JSON_DEPTH) > MAX_JSON_DEPTH)
      throw badRequest(`field ${key} is nested more than ${MAX_JSON_DEPTH} levels deep; flatten it`);
  }
  const target = deployTarget(raw);
  if (target !== ctx.claims.tgt) {
    throw forbidden(`target ${target} is not allowed: this credential deploys to ${ctx.claims.tgt} only`);
  }
  const fileCount = checkFiles(raw.files ?? [], ctx.maxFiles);
  const archive = checkArchive((raw.files ?? []) as unknown[], ctx.maxUploadBytes);
  checkEnv(raw.env, 'env', ctx);
  if (raw.build !== undefined) {
    if (!isObject(raw.build)) throw forbidden('build must be an object');
    for (const key of Object.keys(raw.build))
      if (key !== 'env') throw forbidden(`build.${key} is not allowed`);
    checkEnv(raw.build.env, 'build.env', ctx);
  }
  if (raw.meta !== undefined && !isObject(raw.meta)) throw forbidden('meta must be an object of strings');
  for (const key of Object.keys(raw.meta ?? {}))
    if (RESERVED_META.test(key))
      throw forbidden(
        `meta.${key} is not allowed: keys starting with "keyhole" or "github" are reserved for the provenance the broker stamps`,
      );
  const { autoAssignCustomDomains } = raw;
  if (autoAssignCustomDomains !== undefined && typeof autoAssignCustomDomains !== 'boolean')
    throw forbidden('autoAssignCustomDomains must be true or false');
  // A staged deployment is built for production without taking its domains; a later job promotes it.
  const staged = autoAssignCustomDomains === false;
  if (staged && target !== 'production')
    throw forbidden(
      'autoAssignCustomDomains: false stages a production deployment; it needs target production',
    );

  const body: Record<string, unknown> = { ...raw };
  if (Object.hasOwn(body, 'projectSettings') && !ctx.allowProjectSettings) {
    // The official CLI always sends projectSettings; dropping it keeps the project's saved settings.
    delete body.projectSettings;
    dropped.push('projectSettings');
  }
  // Legacy keys the official CLI deletes itself before sending.
  for (const key of ['public', 'github', 'scope']) {
    if (Object.hasOwn(body, key)) {
      delete body[key];
      dropped.push(key);
    }
  }
  body.project = ctx.claims.prj;
  body.name = ctx.projectName;
  delete body.target;
  delete body.customEnvironmentSlugOrId;
  if (target === 'production' || target === 'preview') {
    if (target === 'production') body.target = 'production';
  } else {
    body.customEnvironmentSlugOrId = target;
  }
  const stamped = provenance(ctx.claims, ctx.serverUrl);
  const clientMeta = Object.entries((raw.meta as Record<string, unknown> | undefined) ?? {}).filter(
    ([key, value]) =>
      typeof value === 'string' && !PROVENANCE_META_PREFIXES.some((p) => key.toLowerCase().startsWith(p)),
  );
  body.meta = {
    ...Object.fromEntries(clientMeta.slice(0, 50)),
    ...stamped.meta,
    // The promote route trusts this stamp: client meta starting with "keyhole" never gets through.
    ...(staged ? { keyholeStaged: '1' } : {}),
  };
  body.gitMetadata = stamped.gitMetadata;
  return { body, fileCount, ...(archive ? { archive } : {}), dropped };
}
