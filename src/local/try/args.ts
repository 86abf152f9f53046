/** `npm run try` flags: parsed strictly, every mistake answered with the usage rather than a parseArgs error. */
import path from 'node:path';
import { parseArgs } from 'node:util';
import { parseArgsMessage } from '../../broker/host/node/cli.js';

export const USAGE = `Usage: npm run try -- --config <broker.yaml> --project <name> [options]

Runs your broker config and your workflow's Keyhole inputs on loopback: a local GitHub OIDC issuer,
the strict Vercel fake, a local GitHub API and the bundled broker and action. Nothing leaves this machine.

  --config <file>          your broker config (required)
  --project <name>         the project the job deploys (default: the step's "project" input)
  --target <target>        preview (default), production or a declared custom environment
  --claims <file.json>     the job's OIDC claims (a decoded token); the flags below override them
  --repository owner/name  default: the repository of the project's first rule
  --ref <ref>              default refs/heads/main
  --event <name>           default push (or the workflow's first trigger)
  --environment <name>     the job's GitHub environment (default: the workflow job's environment)
  --workflow <file.yml>    a workflow file: its job's Keyhole step gives the inputs
  --job <id>               the job of --workflow (default: its only job)
  --input key=value        an action input; repeatable; wins over the workflow's
  --workspace <dir>        the job's workspace (GITHUB_WORKSPACE), default the current directory
  --doctor                 run \`keyhole-broker doctor\` against a local GitHub seeded from the config

Exit status: 0 the deployment reached READY, 3 refused by the policy, 1 anything else.`;

export interface TryArgs {
  config: string;
  project?: string;
  target?: string;
  claims?: string;
  repository?: string;
  ref?: string;
  event?: string;
  environment?: string;
  workflow?: string;
  job?: string;
  inputs: Record<string, string>;
  workspace: string;
  doctor: boolean;
  help: boolean;
}

export class UsageError extends Error {}

const text = { type: 'string' } as const;

/** The flags as given; throws UsageError with what to change. */
export function parseTryArgs(argv: string[], cwd: string): TryArgs {
  let parsed;
  try {
    parsed = parseArgs({
      args: argv,
      allowPositionals: false,
      options: {
        config: text,
        project: text,
        target: text,
        claims: text,
        repository: text,
        ref: text,
        event: text,
        environment: text,
        workflow: text,
        job: text,
        input: { type: 'string', multiple: true },
        workspace: text,
        doctor: { type: 'boolean' },
        help: { type: 'boolean', short: 'h' },
      },
    });
  } catch (error) {
    throw new UsageError(parseArgsMessage(error as Error));
  }
  const v = parsed.values;
  if (v.help) return { config: '', inputs: {}, workspace: cwd, doctor: false, help: true };
  if (!v.config) throw new UsageError('--config <broker.yaml> is required');
  if (v.job && !v.workflow) throw new UsageError('--job needs --workflow <file.yml>');
  if (v.repository !== undefined && !/^[\w.-]+\/[\w.-]+$/.test(v.repository))
    throw new UsageError(`--repository must be owner/name, got "${v.repository}"`);
  if (v.ref !== undefined && !v.ref.startsWith('refs/'))
    throw new UsageError(`--ref must be a full ref such as refs/heads/${v.ref}, got "${v.ref}"`);
  const inputs: Record<string, string> = {};
  for (const pair of v.input ?? []) {
    const at = pair.indexOf('=');
    if (at <= 0) throw new UsageError(`--input must be key=value, got "${pair}"`);
    inputs[pair.slice(0, at).trim()] = pair.slice(at + 1);
  }
  // npm runs scripts from the package folder: paths are the user's, relative to where they typed.
  const at = (file: string) => path.resolve(cwd, file);
  return {
    config: at(v.config),
    ...(v.project !== undefined ? { project: v.project } : {}),
    ...(v.target !== undefined ? { target: v.target } : {}),
    ...(v.claims !== undefined ? { claims: at(v.claims) } : {}),
    ...(v.repository !== undefined ? { repository: v.repository } : {}),
    ...(v.ref !== undefined ? { ref: v.ref } : {}),
    ...(v.event !== undefined ? { event: v.event } : {}),
    ...(v.environment !== undefined ? { environment: v.environment } : {}),
    ...(v.workflow !== undefined ? { workflow: at(v.workflow) } : {}),
    ...(v.job !== undefined ? { job: v.job } : {}),
    inputs,
    workspace: at(v.workspace ?? '.'),
    doctor: v.doctor === true,
    help: false,
  };
}
