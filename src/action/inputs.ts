/** The only reader of action inputs: parses them once into a typed, read-only settings object. */
import path from 'node:path';
import { isHttpsOrLoopback } from '../shared/wire.js';

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
}

export class InputError extends Error {
  constructor(input: string, message: string) {
    super(`Input "${input}": ${message}`);
    this.name = 'InputError';
  }
}

type GetInput = (name: string) => string;

function booleanInput(getInput: GetInput, name: string, fallback: boolean): boolean {
  const value = getInput(name).trim().toLowerCase();
  if (value === '') return fallback;
  if (['true', 'yes', '1', 'on'].includes(value)) return true;
  if (['false', 'no', '0', 'off'].includes(value)) return false;
  throw new InputError(name, `must be true or false, got "${value}"`);
}

export function parseInputs(getInput: GetInput, env: NodeJS.ProcessEnv): Readonly<Settings> {
  const rawUrl = getInput('broker-url').trim();
  if (!rawUrl)
    throw new InputError(
      'broker-url',
      "is required: the URL of your organisation's Keyhole broker, e.g. https://keyhole.example.com",
    );
  let brokerUrl: URL;
  try {
    brokerUrl = new URL(rawUrl);
  } catch {
    throw new InputError('broker-url', `"${rawUrl}" is not a URL; write e.g. https://keyhole.example.com`);
  }
  if (!isHttpsOrLoopback(brokerUrl)) {
    throw new InputError(
      'broker-url',
      'must use https:// (the credential travels in it); plain http is accepted only on loopback',
    );
  }
  if (brokerUrl.search || brokerUrl.hash || brokerUrl.username) {
    throw new InputError('broker-url', 'must not contain a query, fragment or user info');
  }

  const project = getInput('project').trim();
  if (!/^[A-Za-z0-9][A-Za-z0-9._-]{0,99}$/.test(project)) {
    throw new InputError(
      'project',
      project
        ? `"${project}" is not a project name from the broker config`
        : 'is required: the project name from your broker config',
    );
  }
  const target = getInput('target').trim() || 'preview';
  if (!/^[a-z0-9][a-z0-9-]{0,63}$/.test(target)) {
    throw new InputError('target', `"${target}" must be preview, production or a custom environment slug`);
  }

  const workspace = path.resolve(env.GITHUB_WORKSPACE || process.cwd());
  const relative = getInput('path').trim() || '.';
  if (path.isAbsolute(relative))
    throw new InputError('path', `"${relative}" must be relative to the workspace`);
  const dir = path.resolve(workspace, relative);
  const fromWorkspace = path.relative(workspace, dir);
  if (fromWorkspace.startsWith('..') || path.isAbsolute(fromWorkspace)) {
    throw new InputError('path', `"${relative}" points outside the workspace ${workspace}`);
  }

  const timeoutText = getInput('timeout-minutes').trim() || '30';
  const minutes = Number(timeoutText);
  if (!Number.isFinite(minutes) || minutes <= 0 || minutes > 360) {
    throw new InputError(
      'timeout-minutes',
      `must be a number of minutes between 0 and 360, got "${timeoutText}"`,
    );
  }

  const audience = getInput('audience').trim() || brokerUrl.origin;
  const deploy = booleanInput(getInput, 'deploy', true);
  const comment = booleanInput(getInput, 'comment', false);
  const githubToken = getInput('github-token').trim();
  if (comment && !githubToken) throw new InputError('github-token', 'is needed when comment is true');

  return Object.freeze({
    brokerUrl: brokerUrl.toString().replace(/\/+$/, ''),
    project,
    target,
    path: dir,
    workspace,
    prebuilt: booleanInput(getInput, 'prebuilt', false),
    audience,
    wait: booleanInput(getInput, 'wait', true),
    timeoutMs: minutes * 60_000,
    comment,
    deploy,
    githubToken,
    alias: getInput('alias').trim(),
    githubDeployment: booleanInput(getInput, 'github-deployment', false),
  });
}
