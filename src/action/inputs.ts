/** The only reader of action inputs: parses them once into a typed, read-only settings object. */
import path from 'node:path';
import { isHttpsOrLoopback, TARGET_PATTERN } from '../shared/wire.js';
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

function parseBrokerUrl(rawUrl: string, report: Report): URL | undefined {
  if (!rawUrl) {
    report(
      'broker-url',
      "is required: the URL of your organisation's Keyhole broker, e.g. https://keyhole.example.com",
    );
    return undefined;
  }
  let brokerUrl: URL;
  try {
    brokerUrl = new URL(rawUrl);
  } catch {
    report('broker-url', `"${rawUrl}" is not a URL; write e.g. https://keyhole.example.com`);
    return undefined;
  }
  if (!isHttpsOrLoopback(brokerUrl)) {
    report(
      'broker-url',
      'must use https:// (the credential travels in it); plain http is accepted only on loopback',
    );
    return undefined;
  }
  if (brokerUrl.search || brokerUrl.hash || brokerUrl.username) {
    report('broker-url', 'must not contain a query, fragment or user info');
    return undefined;
  }
  return brokerUrl;
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

  const audience = getInput('audience').trim() || brokerUrl?.origin || '';
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

  if (problems.length > 0 || !brokerUrl) throw new InputError(problems);
  return Object.freeze({
    brokerUrl: brokerUrl.toString().replace(/\/+$/, ''),
    project,
    target,
    path: dir,
    workspace,
    prebuilt,
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
  });
}
