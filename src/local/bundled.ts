/** The local world with the committed bundles: the broker as a `node dist/broker/index.js serve` process. */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { startGitHubIssuer, type GitHubIssuer } from './github-oidc.js';
import {
  runActionBundle,
  startBrokerProcess,
  type ActionJob,
  type ActionRun,
  type RunningBroker,
} from './runner.js';
import { startVercelFake, type VercelFake, type VercelFakeOptions } from './vercel/index.js';
import {
  AUDIENCE,
  brokerConfig,
  toYaml,
  withOverrides,
  type ConfigInput,
  type ConfigOverrides,
} from './config.js';
import { SIGNING_KEY, UPSTREAM_TOKEN } from './world.js';

export interface BundledWorld {
  issuer: GitHubIssuer;
  fake: VercelFake;
  broker: RunningBroker;
  configPath: string;
  /** The config written at configPath (without extraConfig's text). */
  config: ConfigInput;
  /** The text at configPath with `overrides` merged in: a variant of this world's config for another broker. */
  configYaml(overrides?: ConfigOverrides): string;
  dir: string;
  /** Runs the action bundle as a job of `acme/marketing` with the given claims and inputs. */
  run(
    inputs: Record<string, string>,
    options?: { claims?: Record<string, string>; workspace?: string } & Partial<ActionJob>,
  ): Promise<ActionRun>;
  close(): Promise<void>;
}

export async function startBundledWorld(
  options: {
    fake?: VercelFakeOptions;
    /** Changes to the local world's config, merged in (config.ts, Overrides). */
    config?: ConfigOverrides;
    /** YAML text appended to the config. */
    extraConfig?: string;
    env?: NodeJS.ProcessEnv;
  } = {},
): Promise<BundledWorld> {
  const issuer = await startGitHubIssuer();
  const fake = await startVercelFake({ tokens: [UPSTREAM_TOKEN], ...options.fake });
  const dir = mkdtempSync(path.join(tmpdir(), 'keyhole-e2e-'));
  const configPath = path.join(dir, 'broker.yaml');
  const config = brokerConfig(
    { issuer: issuer.issuer, jwksUrl: issuer.jwksUrl, vercelApiUrl: fake.url },
    options.config,
  );
  const configYaml = (overrides: ConfigOverrides = {}) =>
    toYaml(withOverrides(config, overrides)) + (options.extraConfig ?? '');
  writeFileSync(configPath, configYaml());
  const broker = await startBrokerProcess({
    configPath,
    env: {
      VERCEL_TOKEN_MARKETING: UPSTREAM_TOKEN,
      VERCEL_TOKEN_BILLING: UPSTREAM_TOKEN,
      KEYHOLE_SIGNING_KEY: SIGNING_KEY,
      ...options.env,
    },
  });
  return {
    issuer,
    fake,
    broker,
    configPath,
    config,
    configYaml,
    dir,
    run: (inputs, opts = {}) => {
      issuer.setJob(opts.claims ?? {});
      return runActionBundle({
        workspace: opts.workspace ?? dir,
        oidc: issuer,
        ...opts,
        inputs: { 'broker-url': broker.url, audience: AUDIENCE, project: 'marketing-site', ...inputs },
      });
    },
    close: async () => {
      await broker.stop();
      await fake.close();
      await issuer.close();
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

/** Lines of a job log that carry a value to mask: the only place a secret may legitimately appear. */
export const withoutMaskCommands = (text: string) =>
  text
    .split('\n')
    .filter((line) => !line.startsWith('::add-mask::'))
    .join('\n');

/** The broker's stdout arrives through a pipe: waits (at most a second) for a matching audit line. */
export async function auditLine(
  broker: RunningBroker,
  match: (line: Record<string, unknown>) => boolean,
): Promise<Record<string, unknown> | undefined> {
  for (let i = 0; i < 50; i++) {
    const line = broker.auditLines().findLast(match);
    if (line) return line;
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
  return undefined;
}

/**
 * Settles once the action follows a deployment it created (the fake sees it read back): the moment
 * to cancel a job mid-deploy, however long a loaded machine took to get there.
 */
export function deploymentFollowed(world: BundledWorld): Promise<void> {
  return new Promise((resolve) => {
    const started = Date.now();
    const poll = setInterval(() => {
      const following = world.fake.requests.some(
        (r) => r.method === 'GET' && /\/deployments\/dpl_/.test(r.path),
      );
      if (following || Date.now() - started > 120_000) {
        clearInterval(poll);
        resolve();
      }
    }, 50);
    poll.unref();
  });
}
