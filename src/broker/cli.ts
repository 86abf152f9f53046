/** `keyhole-broker`: serve, policy check, policy explain. */
import { readFileSync } from 'node:fs';
import { parseArgs } from 'node:util';
import { decodeJwt } from 'jose';
import { createBroker } from './app.js';
import { createLogger } from './audit.js';
import { ConfigError, parseConfig, type LoadedConfig } from './config.js';
import { loadSigningKeys } from './credential.js';
import type { PolicyClaims } from './oidc/claims.js';
import { createGitHubKeySet, createTokenVerifier } from './oidc/verify.js';
import { evaluatePolicy, explainDecision } from './policy/evaluate.js';
import { MemoryReplayStore, type ReplayStore } from './replay.js';
import { RedisReplayStore } from './replay-redis.js';
import { createPooledFetch, nodeFetch } from './node-fetch.js';
import { startServer } from './server.js';

const USAGE = `Usage:
  keyhole-broker serve --config <file> [--port <n>] [--host <addr>]
  keyhole-broker policy check --config <file>
  keyhole-broker policy explain --config <file> --claims <claims.json | token | -> --project <name> --target <target>`;

export interface Io {
  env: NodeJS.ProcessEnv;
  stdout: (line: string) => void;
  stderr: (line: string) => void;
  readStdin: () => string;
}

class UsageError extends Error {}

function loadConfigFile(path: string | undefined): LoadedConfig {
  if (!path) throw new UsageError('--config <file> is required');
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (error) {
    throw new UsageError(`cannot read ${path}: ${(error as NodeJS.ErrnoException).code ?? String(error)}`);
  }
  return parseConfig(text, path);
}

const EXPLAIN_CLAIMS = [
  'repository',
  'repository_id',
  'repository_owner_id',
  'ref',
  'ref_type',
  'event_name',
  'runner_environment',
  'job_workflow_ref',
] as const;

function readClaims(source: string, io: Io): PolicyClaims {
  const text = (
    source === '-'
      ? io.readStdin()
      : /^[\w-]+\.[\w-]+\.[\w-]*$/.test(source.trim())
        ? source
        : readFileSync(source, 'utf8')
  ).trim();
  // A raw JWT is decoded without verification: this is the admin's view, never a decision.
  const claims = /^[\w-]+\.[\w-]+\.[\w-]*$/.test(text)
    ? decodeJwt(text)
    : (JSON.parse(text) as Record<string, unknown>);
  const missing = EXPLAIN_CLAIMS.filter((k) => typeof claims[k] !== 'string');
  if (missing.length > 0)
    throw new UsageError(`the claims lack ${missing.join(', ')} (paste a decoded GitHub OIDC token)`);
  return claims as unknown as PolicyClaims;
}

async function serve(values: Record<string, string | undefined>, io: Io): Promise<number> {
  const { config, warnings } = loadConfigFile(values.config);
  const write = io.stdout;
  const logger = createLogger(write);
  for (const w of warnings) logger.log('warn', `policy: ${w.path}: ${w.message}`);
  const keys = await loadSigningKeys(io.env[config.signingKeyEnv], config.signingKeyEnv);
  if (keys.ephemeral) {
    io.stderr(
      `WARNING: ${config.signingKeyEnv} is not set; using an ephemeral signing key. Credentials stop working when this process restarts, and several instances cannot share them.`,
    );
  }
  const replay: ReplayStore =
    config.replayStore === 'memory'
      ? new MemoryReplayStore({ maxEntries: config.limits.replay_store_max_entries })
      : new RedisReplayStore(config.replayStore);
  const port = Number(values.port ?? io.env.PORT ?? 8787);
  if (!Number.isInteger(port) || port < 0 || port > 65535)
    throw new UsageError(`--port must be 0-65535, got ${values.port ?? io.env.PORT}`);
  let lastStaleLog = 0;
  const keySet = createGitHubKeySet(config.jwksUrl, {
    onStale: (ageMs, reason) => {
      if (Date.now() - lastStaleLog < 60_000) return;
      lastStaleLog = Date.now();
      logger.log('warn', 'issuer keys unreachable; verifying with the last good set', {
        age_seconds: Math.round(ageMs / 1000),
        reason,
      });
    },
  });
  const broker = createBroker({
    config,
    keys,
    verifyToken: createTokenVerifier({ issuer: config.issuer, audience: config.audience, keySet }),
    replay,
    logger,
    upstreamToken: (name) => io.env[name],
    fetch: nodeFetch,
    fetchFor: createPooledFetch(config.limits.upstream_sockets_per_project),
    serverUrl: io.env.KEYHOLE_GITHUB_SERVER_URL ?? 'https://github.com',
  });
  const running = await startServer(broker, {
    host: values.host ?? '127.0.0.1',
    port,
    limits: config.limits,
    trustProxy: config.trustProxy,
  });
  io.stderr(`keyhole-broker listening on ${running.url}`);
  logger.log('info', 'listening', { url: running.url, projects: [...config.projects.keys()] });
  await new Promise<void>((resolve) => {
    const stop = (signal: string) => {
      logger.log('info', 'stopping', { signal });
      void running.close().then(async () => {
        await replay.close?.();
        resolve();
      });
    };
    process.once('SIGTERM', () => stop('SIGTERM'));
    process.once('SIGINT', () => stop('SIGINT'));
  });
  return 0;
}

export async function runCli(argv: string[], io: Io): Promise<number> {
  try {
    const { values, positionals } = parseArgs({
      args: argv,
      allowPositionals: true,
      options: {
        config: { type: 'string' },
        port: { type: 'string' },
        host: { type: 'string' },
        claims: { type: 'string' },
        project: { type: 'string' },
        target: { type: 'string' },
        help: { type: 'boolean', short: 'h' },
      },
    });
    const command = positionals.join(' ');
    if (values.help || command === '') {
      io.stdout(USAGE);
      return values.help ? 0 : 1;
    }
    if (command === 'serve') return await serve(values as Record<string, string | undefined>, io);
    if (command === 'policy check') {
      const { config, warnings } = loadConfigFile(values.config);
      for (const w of warnings) io.stdout(`warning: ${values.config}: ${w.path}: ${w.message}`);
      const rules = [...config.projects.values()].reduce((n, p) => n + p.rules.length, 0);
      io.stdout(
        `ok: ${values.config}: ${config.projects.size} project(s), ${rules} rule(s), ${warnings.length} warning(s)`,
      );
      return 0;
    }
    if (command === 'policy explain') {
      const { config } = loadConfigFile(values.config);
      if (!values.claims || !values.project)
        throw new UsageError('policy explain needs --claims, --project and --target');
      const target = values.target ?? 'preview';
      const decision = evaluatePolicy(config, readClaims(values.claims, io), values.project, target);
      io.stdout(explainDecision(decision, values.project, target));
      return 0;
    }
    throw new UsageError(`unknown command "${command}"`);
  } catch (error) {
    if (error instanceof ConfigError) {
      io.stderr(error.message);
      return 1;
    }
    if (
      error instanceof UsageError ||
      (error instanceof TypeError && 'code' in error && String(error.code).startsWith('ERR_PARSE_ARGS'))
    ) {
      io.stderr(`keyhole-broker: ${error.message}\n${USAGE}`);
      return 1;
    }
    io.stderr(`keyhole-broker: ${error instanceof Error ? error.message : String(error)}`);
    return 1;
  }
}
