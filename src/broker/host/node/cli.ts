/** `keyhole-broker`: serve, policy check, policy explain, policy test, doctor. */
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { parseArgs, parseEnv, type ParseArgsConfig } from 'node:util';
import { createLogger } from '../../audit.js';
import { parseConfig, type LoadedConfig } from '../../policy/config.js';
import { runDoctorCommand } from '../../github/doctor.js';
import type { PolicyClaims } from '../../oidc/claims.js';
import { formatCaseReport, loadCases, missingClaims, parseClaimsText, runCases } from '../../policy/cases.js';
import { evaluatePolicy } from '../../policy/evaluate.js';
import { explainDecision } from '../../policy/explain.js';
import { createEnvReader, startRuntime } from './runtime.js';
import { startServer } from './server.js';
import { drain } from './shutdown.js';
import { ConfigError, formatIssue } from '../../policy/yaml-file.js';

export interface Io {
  env: NodeJS.ProcessEnv;
  stdout: (line: string) => void;
  stderr: (line: string) => void;
  readStdin: () => string;
  /** Ends the process at once (`serve`'s last resort when a shutdown hangs); absent in-process. */
  exit?: (code: number) => void;
}

type Values = Record<string, string | boolean | undefined>;

/** One subcommand: its usage line, its own options (parsed strictly), and what it does. */
interface Command {
  usage: string;
  options: ParseArgsConfig['options'];
  run: (values: Values, io: Io) => Promise<number>;
}

class UsageError extends Error {}

/**
 * parseArgs's own wording ("To specify a positional argument starting with a '-'…") is about its
 * API, not this command: the flag, in the words of a usage error.
 */
export function parseArgsMessage(error: Error): string {
  const quoted = /'([^']+)'/.exec(error.message)?.[1] ?? '';
  if (/Unknown option/.test(error.message)) return `unknown flag ${quoted}`;
  if (/argument missing/.test(error.message)) return `${quoted.split(' ')[0]} needs a value`;
  if (/does not take an argument/.test(error.message)) return `${quoted.split(' ')[0]} takes no value`;
  if (/positional/.test(error.message)) return `unexpected argument ${quoted}`;
  return error.message;
}

function readInput(file: string | undefined, flag: string): string {
  if (!file) throw new UsageError(`${flag} <file> is required`);
  try {
    return readFileSync(file, 'utf8');
  } catch (error) {
    throw new UsageError(`cannot read ${file}: ${(error as NodeJS.ErrnoException).code ?? String(error)}`);
  }
}

/** `env` checks each project's token_env against the environment the broker will run with. */
function loadConfigFile(values: Values, env?: Record<string, string | undefined>): LoadedConfig {
  const file = values.config as string | undefined;
  return parseConfig(readInput(file, '--config'), file, env ? { env } : {});
}

function readClaims(source: string, io: Io): PolicyClaims {
  const text =
    source === '-' ? io.readStdin() : JWT.test(source.trim()) ? source : readInput(source, '--claims');
  let claims: Record<string, unknown>;
  try {
    claims = parseClaimsText(text);
  } catch (error) {
    throw new UsageError(`--claims ${source}: ${(error as Error).message}`);
  }
  const missing = missingClaims(claims);
  if (missing)
    throw new UsageError(
      `--claims ${source}: ${missing} (paste a decoded GitHub OIDC token; docs/policy.md shows how to get one)`,
    );
  return claims as unknown as PolicyClaims;
}

const JWT = /^[\w-]+\.[\w-]+\.[\w-]*$/;

/**
 * SIGHUP is taken from the first moment `serve` runs: its default action ends the process, and a
 * reload sent while the broker starts (a config tool right after a rollout) must not. One received
 * before the broker runs reloads as soon as it does; one during the drain is ignored.
 */
async function serve(values: Values, io: Io): Promise<number> {
  const hangup = { pending: false, reload: undefined as (() => void) | undefined };
  const onHangup = () => (hangup.reload ? hangup.reload() : (hangup.pending = true));
  process.on('SIGHUP', onHangup);
  try {
    return await serveAfterStart(values, io, hangup);
  } finally {
    process.off('SIGHUP', onHangup);
  }
}

async function serveAfterStart(
  values: Values,
  io: Io,
  hangup: { pending: boolean; reload: (() => void) | undefined },
): Promise<number> {
  const file = values.config as string;
  const { config, warnings } = loadConfigFile(values);
  const logger = createLogger(io.stdout);
  for (const w of warnings) logger.log('warn', `policy: ${formatIssue(file, w, 'warning')}`);
  const port = Number((values.port as string | undefined) ?? io.env.PORT ?? 8787);
  if (!Number.isInteger(port) || port < 0 || port > 65535)
    throw new UsageError(`--port must be 0-65535, got ${values.port ?? io.env.PORT}`);
  const envFile = values['env-file'] as string | undefined;
  const runtime = await startRuntime({
    configPath: file,
    config,
    env: io.env,
    ...(envFile ? { envFile } : {}),
    logger,
    stderr: io.stderr,
    serverUrl: io.env.KEYHOLE_GITHUB_SERVER_URL ?? 'https://github.com',
  });
  // Found at start, by name, rather than by the first deploy as a 503.
  for (const project of config.projects.values()) {
    if (runtime.readEnv(project.tokenEnv)) continue;
    logger.log(
      'warn',
      `project ${project.name} cannot deploy: environment variable ${project.tokenEnv} (its token_env) is not set`,
      { project: project.name, token_env: project.tokenEnv },
    );
  }
  // The HTTP server's own limits and trust_proxy are read once: changing them needs a restart.
  const running = await startServer(runtime.broker, {
    host: (values.host as string | undefined) ?? '127.0.0.1',
    port,
    limits: config.limits,
    trustProxy: config.trustProxy,
    ...(config.trustedProxies ? { trustedProxies: config.trustedProxies } : {}),
  });
  io.stderr(`keyhole-broker listening on ${running.url}`);
  logger.log('info', 'listening', { url: running.url, projects: [...config.projects.keys()] });
  hangup.reload = () => void runtime.reload();
  if (hangup.pending) hangup.reload();
  // The grace is read once, like the server's limits: what the process was started with.
  const graceSeconds = config.shutdownGraceSeconds;
  const reason = await new Promise<string>((resolve) => {
    let draining = false;
    const stop = (signal: string) => {
      if (draining) {
        // A second signal during the drain: the operator wants out now.
        io.stderr(`keyhole-broker: stopped (${signal} during the drain): exiting without waiting`);
        io.exit?.(1);
        return;
      }
      draining = true;
      hangup.reload = () => undefined;
      void drain({
        signal,
        graceSeconds,
        broker: runtime.broker,
        server: running,
        closeRuntime: () => runtime.close(),
        logger,
        exit: (code, line) => {
          io.stderr(line);
          io.exit?.(code);
        },
      }).then(resolve);
    };
    process.on('SIGTERM', () => stop('SIGTERM'));
    process.on('SIGINT', () => stop('SIGINT'));
  });
  io.stderr(reason);
  return 0;
}

/**
 * The names serve would find set: the environment, an --env-file, and `<NAME>_FILE` standing for
 * NAME (serve reads the file's content then); only presence matters here, no secret is read.
 */
function namesServeWouldSee(io: Io, envFile: string | undefined): Record<string, string | undefined> {
  const names: Record<string, string | undefined> = {
    ...io.env,
    ...(envFile ? parseEnv(readInput(envFile, '--env-file')) : {}),
  };
  for (const [name, value] of Object.entries(names))
    if (name.endsWith('_FILE') && value) names[name.slice(0, -'_FILE'.length)] ||= value;
  return names;
}

async function policyCheck(values: Values, io: Io): Promise<number> {
  const file = values.config as string | undefined;
  // The same environment as serve: a project whose token is missing there is warned about.
  const env = namesServeWouldSee(io, values['env-file'] as string | undefined);
  const { config, warnings } = loadConfigFile(values, env);
  for (const w of warnings) io.stdout(formatIssue(file!, w, 'warning'));
  const rules = [...config.projects.values()].reduce((n, p) => n + p.rules.length, 0);
  io.stdout(
    `ok: ${file}: ${config.projects.size} project(s), ${rules} rule(s), ${warnings.length} warning(s)`,
  );
  return 0;
}

/** Exit status of `policy explain --exit-code` for a denial: distinct from 1, which is an error. */
const EXIT_DENIED = 3;

async function policyExplain(values: Values, io: Io): Promise<number> {
  const { config } = loadConfigFile(values);
  const claims = values.claims as string | undefined;
  const projectName = values.project as string | undefined;
  if (!claims || !projectName) throw new UsageError('policy explain needs --claims and --project');
  const target = (values.target as string | undefined) ?? 'preview';
  const decision = evaluatePolicy(config, readClaims(claims, io), projectName, target);
  io.stdout(explainDecision(decision, config.projects.get(projectName), projectName, target));
  return !decision.allowed && values['exit-code'] ? EXIT_DENIED : 0;
}

async function policyTest(values: Values, io: Io): Promise<number> {
  const { config } = loadConfigFile(values);
  const file = values.cases as string | undefined;
  const cases = loadCases(readInput(file, '--cases'), file!, (p) =>
    readFileSync(path.resolve(path.dirname(file!), p), 'utf8'),
  );
  const results = runCases(config, cases);
  io.stdout(formatCaseReport(results, file!));
  return results.every((r) => r.passed) ? 0 : 1;
}

/** doctor reads the GitHub App's key exactly as serve does: --env-file, the environment, `<NAME>_FILE`. */
async function doctor(values: Values, io: Io): Promise<number> {
  const { config } = loadConfigFile(values);
  const envFile = values['env-file'] as string | undefined;
  if (envFile) readInput(envFile, '--env-file'); // a missing file is a usage error, not a stack trace
  const readEnv = createEnvReader(io.env, envFile);
  return runDoctorCommand(config, { ...io, readEnv }, { json: values.json === true });
}

const config = { config: { type: 'string' } } as const;

/** The subcommands, by their words; a new one is one entry here. */
const COMMANDS: Record<string, Command> = {
  serve: {
    usage: 'serve --config <file> [--port <n>] [--host <addr>] [--env-file <file>]  (SIGHUP reloads)',
    options: {
      ...config,
      port: { type: 'string' },
      host: { type: 'string' },
      'env-file': { type: 'string' },
    },
    run: serve,
  },
  'policy check': {
    usage: 'policy check --config <file> [--env-file <file>]',
    options: { ...config, 'env-file': { type: 'string' } },
    run: policyCheck,
  },
  'policy explain': {
    usage:
      'policy explain --config <file> --claims <claims.json | token | -> --project <name> [--target <target>, default preview] [--exit-code: exit 3 when denied]',
    options: {
      ...config,
      claims: { type: 'string' },
      project: { type: 'string' },
      target: { type: 'string' },
      'exit-code': { type: 'boolean' },
    },
    run: policyExplain,
  },
  'policy test': {
    usage: 'policy test --config <file> --cases <cases.yaml>',
    options: { ...config, cases: { type: 'string' } },
    run: policyTest,
  },
  doctor: {
    usage:
      'doctor --config <file> [--env-file <file>] [--json]: check the GitHub-side controls production rules rely on',
    options: { ...config, 'env-file': { type: 'string' }, json: { type: 'boolean' } },
    run: doctor,
  },
};

const USAGE = `Usage:\n${Object.values(COMMANDS)
  .map((c) => `  keyhole-broker ${c.usage}`)
  .join('\n')}`;

export async function runCli(argv: string[], io: Io): Promise<number> {
  let usage = USAGE;
  try {
    const words = argv.filter((a) => !a.startsWith('-')).slice(0, 2);
    const name = [words.join(' '), words[0] ?? ''].find((n) => n in COMMANDS);
    const command = name ? COMMANDS[name]! : undefined;
    if (command) usage = `Usage: keyhole-broker ${command.usage}`;
    const { values, positionals } = parseArgs({
      args: argv,
      allowPositionals: true,
      options: { ...command?.options, help: { type: 'boolean', short: 'h' } },
    });
    if (values.help) {
      io.stdout(usage);
      return 0;
    }
    if (!command || positionals.join(' ') !== name) {
      if (positionals.length === 0) {
        io.stdout(USAGE);
        return 1;
      }
      throw new UsageError(`unknown command "${positionals.join(' ')}"`);
    }
    return await command.run(values, io);
  } catch (error) {
    if (error instanceof ConfigError) {
      io.stderr(error.message);
      return 1;
    }
    if (error instanceof UsageError) {
      io.stderr(`keyhole-broker: ${error.message}\n${usage}`);
      return 1;
    }
    if (error instanceof TypeError && 'code' in error && String(error.code).startsWith('ERR_PARSE_ARGS')) {
      io.stderr(`keyhole-broker: ${parseArgsMessage(error)}\n${usage}`);
      return 1;
    }
    io.stderr(`keyhole-broker: ${error instanceof Error ? error.message : String(error)}`);
    return 1;
  }
}
