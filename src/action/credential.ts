/** The run's deploy credential: obtained at the exchange, left for the post step, or exported (deploy: false). */
import type { ExchangeResponse } from '../shared/wire.js';
import { createProofKey, withProofs } from './dpop.js';
import { exchangeToken } from './exchange.js';
import {
  brokerHonours,
  forgetJobCredential,
  readJobCredential,
  saveJobCredential,
} from './job-credential.js';
import { jobEnvironmentFrom } from './github-deployment.js';
import { takeEarlyToken } from './early-token.js';
import { requestOIDCToken } from './oidc.js';
import { saveCredential } from './state.js';
import type { Step } from './step.js';

export interface Credential {
  exchanged: ExchangeResponse;
  /** Every call to the gateway goes through this (DPoP proofs added for key-bound credentials). */
  gatewayFetch: typeof fetch;
  /** The job's GitHub environment, from its OIDC token (names the GitHub Deployment). */
  jobEnvironment: string | undefined;
}

/** Exchanges the job's OIDC token for the credential; `onToken` runs once GitHub has issued a token. */
export async function obtainCredential(step: Step, onToken: () => void): Promise<Credential> {
  const shared = await jobCredential(step);
  if (shared) return shared;
  const { deps, settings, record } = step;
  const { core, env } = deps;
  let jobEnvironment: string | undefined;
  // Offered at the exchange; bound only when the project requires DPoP. The official CLI (deploy:
  // false) cannot sign proofs, so credential-only mode offers none.
  const proofKey = settings.deploy ? await createProofKey() : undefined;
  const exchanged = await step.phase('exchange', () =>
    exchangeToken(
      settings.brokerUrl,
      { project: settings.project, target: settings.target },
      {
        fetch: deps.fetch,
        retry: deps.retry,
        setSecret: core.setSecret,
        ...(proofKey ? { proofKey } : {}),
        getToken: async () => {
          const token = await jobToken(step);
          jobEnvironment = jobEnvironmentFrom(token);
          onToken();
          return token;
        },
      },
    ),
  );
  record.credential = exchanged.credential;
  // The post step revokes it whatever happens from here on (success, failure, cancellation).
  saveCredential(core, {
    brokerUrl: settings.brokerUrl,
    credential: exchanged.credential,
    expiresAt: exchanged.expires_at,
  });
  // Outliving this step (deploy: false), it is the job's: a later Keyhole step uses it (job-credential.ts).
  if (!settings.deploy) saveJobCredential(env, jobKey(settings), exchanged, jobEnvironment);
  core.info(
    `Keyhole: ${exchanged.token_type === 'DPoP' ? 'key-bound (DPoP) ' : ''}deploy credential for ${exchanged.project.name} (${exchanged.project.id}) → ${exchanged.target}, valid until ${new Date(exchanged.expires_at).toISOString()}`,
  );
  return {
    exchanged,
    gatewayFetch:
      exchanged.token_type === 'DPoP' && proofKey
        ? withProofs(deps.fetch, proofKey, exchanged.credential)
        : deps.fetch,
    jobEnvironment,
  };
}

/** A fresh OIDC token for the exchange: the one asked for at start the first time, if it is for this audience. */
async function jobToken({ deps, settings }: Step): Promise<string> {
  const early = deps.earlyToken && (await takeEarlyToken(deps.earlyToken, settings.audience));
  // Masked as core.getIDToken masks the tokens it gets.
  if (early) deps.core.setSecret(early);
  return early ?? (await requestOIDCToken(settings.audience, deps.env, deps.core.getIDToken));
}

const jobKey = (settings: Step['settings']) => ({
  brokerUrl: settings.brokerUrl,
  project: settings.project,
  target: settings.target,
});

/**
 * The credential an earlier Keyhole step of this job left, when the broker still honours it: no
 * second exchange. This step neither saves it for its post step nor revokes it early: the step
 * that exchanged it owns it, and its post step, the last to run, revokes it.
 */
async function jobCredential(step: Step): Promise<Credential | undefined> {
  const { deps, settings, record } = step;
  const saved = readJobCredential(deps.env, jobKey(settings), deps.now());
  if (!saved) return undefined;
  if (!(await brokerHonours(settings.brokerUrl, saved, deps.fetch))) {
    forgetJobCredential(deps.env, jobKey(settings));
    deps.core.info(
      'Keyhole: the credential an earlier step of this job obtained is no longer valid; exchanging again.',
    );
    return undefined;
  }
  deps.core.setSecret(saved.credential);
  record.credential = saved.credential;
  record.sharedCredential = true;
  deps.core.info(
    `Keyhole: using this job's deploy credential for ${saved.project.name} (${saved.project.id}) → ${saved.target} from an earlier Keyhole step, valid until ${new Date(saved.expires_at).toISOString()}`,
  );
  const { job_environment: jobEnvironment, ...exchanged } = saved;
  return { exchanged, gatewayFetch: deps.fetch, jobEnvironment };
}

/** `deploy: false`: the credential goes to later steps (the official CLI) as environment variables. */
export function exportCredential({ deps, settings }: Step, { exchanged }: Credential): void {
  const { core } = deps;
  core.setOutput('credential', exchanged.credential);
  core.exportVariable('VERCEL_TOKEN', exchanged.credential);
  core.exportVariable('VERCEL_ORG_ID', exchanged.project.team_id);
  core.exportVariable('VERCEL_PROJECT_ID', exchanged.project.id);
  core.exportVariable('KEYHOLE_API_URL', settings.brokerUrl);
  core.setOutput('api-url', settings.brokerUrl);
  core.info(
    `Credential exported as VERCEL_TOKEN; run: vercel deploy --prebuilt --api "$KEYHOLE_API_URL"${settings.target === 'production' ? ' --prod' : ''}`,
  );
}
