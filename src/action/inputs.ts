/** The only reader of action inputs: parses them once into a typed, read-only settings object. */
import path from 'node:path';
import { TARGET_PATTERN } from '../shared/wire.js';
import type { ArchiveMode } from './archive.js';
import { audienceOf, parseBrokerUrl } from './broker-url.js';
import { checkInputProblems } from './check.js';
import { parseDeploymentRef } from './promote.js';

export interface Settings {
  brokerUrl: string;
  project: string;
  target: string;
  /** Absolute directory to deploy, inside the workspace. */
  path: string;
  workspace: string;
  prebuilt: boolean;
  audience: string;
  wait: boolean;
  timeoutMs: number;
  comment: boolean;
  deploy: boolean;
  githubToken: string;
  /** The stable alias template ({pr}, {branch}, {sha}, {project}); empty for none. */
  alias: string;
  /** Create a GitHub Deployment with statuses for this deploy. */
  githubDeployment: boolean;
  /** Write .vercel/project.json and .vercel/.env.<target>.local (the broker's env_pull names) first. */
  pull: boolean;
  /** Create the production deployment staged: built, domains not assigned, for a later `promote`. */
  stage: boolean;
  /** A deployment id or host name to promote instead of deploying; undefined to deploy. */
  promote?: string;
  /** Remove this branch's preview alias and deployments instead of deploying (`pull_request: closed`). */
  cleanup: boolean;
  /** A deployment id, host name or `previous` to roll production back to instead of deploying. */
  rollback?: string;
  /** `auto`: one tar.gz in parts above 15,000 files; `tgz`: always; `off`: never. */
  archive: ArchiveMode;
  /** The deployment's runtime variables (`env` of the create). */
  env: Readonly<Record<string, string>>;
  /** Variables of Vercel's build (`build.env`), and of the local `vercel build` with build: true. */
  buildEnv: Readonly<Record<string, string>>;
  /** Build again even when Vercel has a deployment of the same files (`forceNew=1`). */
  force: boolean;
  /** With force: keep the build cache (`withCache=1`). */
  withCache: boolean;
  /** Regions of the deployment's functions, e.g. ["iad1", "fra1"]; empty: the project's. */
  regions: readonly string[];
  /** The client's own deployment meta; Keyhole's keys are the broker's. */
  meta: Readonly<Record<string, string>>;
  /** Pull, run the official `vercel build`, deploy the output prebuilt. */
  build: boolean;
  /** The `vercel` CLI version build: true runs, exact. */
  vercelVersion: string;
  /** A path GET on the READY deployment (and alias) with the job's OIDC token; empty for none. */
  checkPath: string;
  /** Fail the step when the check answers anything but a 2xx. */
  checkRequired: boolean;
}

/** One input and what to change in it. */
export interface InputProblem {
  input: string;
  message: string;
}

/** Every bad input of the step at once, so a workflow author fixes them in one edit. */
export class InputError extends Error {
  readonly problems: readonly InputProblem[];
  constructor(problems: InputProblem[]) {
    const lines = problems.map((p) => `Input "${p.input}": ${p.message}`);
    super(
      lines.length === 1
        ? lines[0]!
        : `${lines.length} inputs need a change:\n${lines.map((l) => `- ${l}`).join('\n')}`,
    );
    this.name = 'InputError';
    this.problems = problems;
  }
}

type GetInput = (name: string) => string;
type Report = (input: string, message: string) => void;

function booleanInput(getInput: GetInput, name: string, fallback: boolean, report: Report): boolean {
  const value = getInput(name).trim().toLowerCase();
  if (value === '') return fallback;
  if (['true', 'yes', '1', 'on'].includes(value)) return true;
  if (['false', 'no', '0', 'off'].includes(value)) return false;
  report(name, `must be true or false, got "${value}"`);
  return fallback;
}

const TARGET = TARGET_PATTERN;

/** The target that was probably meant: Vercel's targets and environment slugs are lower case. */
function suggestTarget(target: string): string | undefined {
  const guess = target.toLowerCase().replace(/[\s_]+/g, '-');
  if (guess === 'prod') return 'production';
  return TARGET.test(guess) ? guess : undefined;
}

/**
 * `KEY=value` lines (blank lines and `#` comments skipped). Values are never echoed in a message:
 * they may be secrets.
 */
function pairsInput(
  getInput: GetInput,
  name: string,
  report: Report,
  check: (key: string, value: string, line: number) => string | undefined,
): Record<string, string> {
  const pairs: Record<string, string> = {};
  getInput(name)
    .split(/\r?\n/)
    .forEach((raw, i) => {
      const line = raw.trim();
      if (line === '' || line.startsWith('#')) return;
      const eq = line.indexOf('=');
      const key = eq === -1 ? line : line.slice(0, eq).trim();
      if (eq === -1) return report(name, `line ${i + 1} ("${key.slice(0, 40)}") has no "="; write KEY=value`);
      const value = line.slice(eq + 1);
      if (Object.hasOwn(pairs, key)) return report(name, `line ${i + 1} sets ${key} a second time`);
      const problem = check(key, value, i + 1);
      if (problem) return report(name, `line ${i + 1}: ${problem}`);
      pairs[key] = value;
    });
  return pairs;
}

const ENV_NAME = /^[A-Za-z_][A-Za-z0-9_]*$/;

function envPairs(getInput: GetInput, name: string, report: Report): Record<string, string> {
  return pairsInput(getInput, name, report, (key, value) => {
    if (!ENV_NAME.test(key))
      return `"${key.slice(0, 40)}" is not a variable name (letters, digits and _, not starting with a digit)`;
    if (value.replace(/^[\s\p{Cc}\p{Cf}]+/u, '').startsWith('@'))
      return `the value of ${key} starts with "@", a Vercel secret reference, which Keyhole refuses; pass the value itself (from a GitHub secret)`;
    return undefined;
  });
}

/** Meta keys the broker keeps for itself (provenance, its stamp): refused there too. */
const RESERVED_META = /^(keyhole|github)/i;
const MAX_META_KEYS = 50;

function metaPairs(getInput: GetInput, report: Report): Record<string, string> {
  const meta = pairsInput(getInput, 'meta', report, (key, value) => {
    if (!/^[A-Za-z0-9_.-]{1,100}$/.test(key))
      return `"${key.slice(0, 40)}" must be 1 to 100 letters, digits, ".", "_" or "-"`;
    if (RESERVED_META.test(key))
      return `${key} is reserved: keys starting with "keyhole" or "github" are the provenance the broker stamps; rename it`;
    if (value.length > 1024) return `the value of ${key} is longer than 1024 characters`;
    return undefined;
  });
  if (Object.keys(meta).length > MAX_META_KEYS) report('meta', `has more than ${MAX_META_KEYS} keys`);
  return meta;
}

/** Vercel region ids: three letters and a digit (iad1, fra1, hnd1). */
function regionsInput(getInput: GetInput, report: Report): string[] {
  const text = getInput('regions').trim();
  if (!text) return [];
  const regions = text.split(',').map((r) => r.trim());
  const bad = regions.filter((r) => !/^[a-z]{3}[0-9]$/.test(r));
  if (bad.length > 0)
    report(
      'regions',
      `${bad.map((r) => `"${r.slice(0, 20)}"`).join(', ')} not a Vercel region id; write e.g. iad1,fra1`,
    );
  else if (new Set(regions).size !== regions.length) report('regions', 'names a region twice');
  return regions;
}

function archiveInput(getInput: GetInput, report: Report): ArchiveMode {
  const value = getInput('archive').trim().toLowerCase() || 'auto';
  if (value === 'auto' || value === 'tgz' || value === 'off') return value;
  report('archive', `must be auto, tgz or off, got "${value.slice(0, 40)}"`);
  return 'auto';
}

type DeployOptions = Pick<
  Settings,
  | 'archive'
  | 'env'
  | 'buildEnv'
  | 'force'
  | 'withCache'
  | 'regions'
  | 'meta'
  | 'build'
  | 'vercelVersion'
  | 'checkPath'
  | 'checkRequired'
>;

/** The inputs that shape the create itself (issue 23.4), each checked before any request. */
function deployOptions(
  getInput: GetInput,
  report: Report,
  { prebuilt, audience }: { prebuilt: boolean; audience: string },
): DeployOptions {
  const force = booleanInput(getInput, 'force', false, report);
  const withCache = booleanInput(getInput, 'with-cache', false, report);
  if (withCache && !force)
    report(
      'with-cache',
      'keeps the build cache of a forced build; set force: true with it (an ordinary deploy uses the cache already)',
    );
  const build = booleanInput(getInput, 'build', false, report);
  const vercelVersion = getInput('vercel-version').trim();
  if (vercelVersion && !/^[0-9]+\.[0-9]+\.[0-9]+$/.test(vercelVersion))
    report(
      'vercel-version',
      `"${vercelVersion.slice(0, 40)}" must be an exact version such as 64.0.2 (the CLI that builds is pinned)`,
    );
  if (build && !vercelVersion)
    report(
      'vercel-version',
      'is needed with build: true: the exact vercel CLI version to build with, e.g. 64.0.2',
    );
  if (build && prebuilt)
    report('prebuilt', 'build: true builds and deploys the output itself; remove prebuilt: true');
  return {
    archive: archiveInput(getInput, report),
    env: envPairs(getInput, 'env', report),
    buildEnv: envPairs(getInput, 'build-env', report),
    force,
    withCache,
    regions: regionsInput(getInput, report),
    meta: metaPairs(getInput, report),
    build,
    vercelVersion,
    ...checkInputs(getInput, report, audience),
  };
}

/** The project and target as written, for the summary of a step whose inputs may not parse. */
export function readLabels(getInput: GetInput): { project: string; target: string } {
  return { project: getInput('project'), target: getInput('target') || 'preview' };
}

export function parseInputs(getInput: GetInput, env: NodeJS.ProcessEnv): Readonly<Settings> {
  const problems: InputProblem[] = [];
  const report: Report = (input, message) => problems.push({ input, message });

  const brokerUrl = parseBrokerUrl(getInput('broker-url').trim(), report);

  const project = getInput('project').trim();
  if (!/^[A-Za-z0-9][A-Za-z0-9._-]{0,99}$/.test(project)) {
    report(
      'project',
      project
        ? `"${project}" is not a project name from the broker config`
        : 'is required: the project name from your broker config',
    );
  }
  const target = getInput('target').trim() || 'preview';
  if (!TARGET.test(target)) {
    const guess = suggestTarget(target);
    report(
      'target',
      `"${target}" must be preview, production or a custom environment slug, in lower case${guess ? `; did you mean "${guess}"?` : ''}`,
    );
  }

  const workspace = path.resolve(env.GITHUB_WORKSPACE || process.cwd());
  const relative = getInput('path').trim() || '.';
  const dir = path.resolve(workspace, relative);
  const fromWorkspace = path.relative(workspace, dir);
  if (path.isAbsolute(relative)) report('path', `"${relative}" must be relative to the workspace`);
  else if (fromWorkspace.startsWith('..') || path.isAbsolute(fromWorkspace))
    report('path', `"${relative}" points outside the workspace ${workspace}`);

  const timeoutText = getInput('timeout-minutes').trim() || '30';
  const minutes = Number(timeoutText);
  if (!Number.isFinite(minutes) || minutes <= 0 || minutes > 360) {
    report('timeout-minutes', `must be a number of minutes between 0 and 360, got "${timeoutText}"`);
  }

  const audience = audienceOf(getInput, brokerUrl);
  const prebuilt = booleanInput(getInput, 'prebuilt', false, report);
  const wait = booleanInput(getInput, 'wait', true, report);
  const deploy = booleanInput(getInput, 'deploy', true, report);
  const comment = booleanInput(getInput, 'comment', false, report);
  const githubDeployment = booleanInput(getInput, 'github-deployment', false, report);
  const githubToken = getInput('github-token').trim();
  if (comment && !githubToken) report('github-token', 'is needed when comment is true');
  if (githubDeployment && !githubToken) report('github-token', 'is needed when github-deployment is true');
  const stage = booleanInput(getInput, 'stage', false, report);
  if (stage && target !== 'production')
    report('stage', 'stages a production deployment; set target: production with it');
  const promoteText = getInput('promote').trim();
  const promote = promoteText ? parseDeploymentRef(promoteText) : undefined;
  if (promoteText) {
    if (!promote)
      report(
        'promote',
        `"${promoteText}" is not a deployment id (dpl_…) or URL; pass the deployment-id output of the job that staged it`,
      );
    if (target !== 'production')
      report('promote', 'points production at a staged deployment; set target: production with it');
    if (stage) report('promote', 'promotes an existing deployment; remove stage: true from this step');
  }
  const pull = booleanInput(getInput, 'pull', false, report);
  const cleanup = booleanInput(getInput, 'cleanup', false, report);
  if (cleanup && target !== 'preview')
    report('cleanup', `removes preview deployments; it needs target: preview, not ${target}`);
  const rollbackText = getInput('rollback').trim();
  const rollback = rollbackText === 'previous' ? rollbackText : parseDeploymentRef(rollbackText);
  if (rollbackText) {
    if (!rollback)
      report(
        'rollback',
        `"${rollbackText}" is not a deployment id (dpl_…), URL or "previous"; name the production deployment to return to`,
      );
    if (target !== 'production')
      report('rollback', 'points production back at an earlier deployment; set target: production with it');
  }
  const exclusive = [
    ['cleanup', cleanup],
    ['rollback', Boolean(rollbackText)],
    ['promote', Boolean(promoteText)],
  ].filter(([, on]) => on);
  if (stage && rollbackText) report('rollback', 'rolls back to an existing deployment; remove stage: true');
  if (exclusive.length > 1)
    report(
      String(exclusive[0]![0]),
      `cannot be combined with ${exclusive
        .slice(1)
        .map(([name]) => name)
        .join(' or ')} in one step; use one step each`,
    );
  const options = deployOptions(getInput, report, { prebuilt, audience });
  if (options.build && (cleanup || rollbackText || promoteText))
    report('build', 'builds and deploys; it cannot be combined with promote, rollback or cleanup');

  if (problems.length > 0 || !brokerUrl) throw new InputError(problems);
  return Object.freeze({
    brokerUrl: brokerUrl.toString().replace(/\/+$/, ''),
    project,
    target,
    path: dir,
    workspace,
    prebuilt: prebuilt || options.build,
    audience,
    wait,
    timeoutMs: minutes * 60_000,
    comment,
    deploy,
    githubToken,
    alias: getInput('alias').trim(),
    githubDeployment,
    pull,
    stage,
    ...(promote ? { promote } : {}),
    cleanup,
    ...(rollback ? { rollback } : {}),
    ...options,
  });
}

/** check-path and check-required: refused here, before any token or request (check.ts says why). */
function checkInputs(getInput: GetInput, report: Report, audience: string) {
  const checkPath = getInput('check-path').trim();
  const checkRequired = booleanInput(getInput, 'check-required', false, report);
  for (const [input, message] of checkInputProblems(checkPath, checkRequired, audience))
    report(input, message);
  return { checkPath, checkRequired };
}
