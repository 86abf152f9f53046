/** The run's deploy credential: obtained at the exchange, left for the post step, or exported (deploy: false). */
import type { ExchangeResponse } from '../shared/wire.js';
import { createProofKey, withProofs } from './dpop.js';
import { exchangeToken } from './exchange.js';
import { jobEnvironmentFrom } from './github-deployment.js';
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
          const token = await requestOIDCToken(settings.audience, env, core.getIDToken);
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
