/** Obtains the job's GitHub OIDC token, failing with the exact `permissions:` YAML when the job cannot. */

export const MISSING_PERMISSION_MESSAGE = `Keyhole needs a GitHub OIDC token, but this job cannot request one: ACTIONS_ID_TOKEN_REQUEST_URL is not set.
Give the job permission to request it, in the workflow or on the job:

permissions:
  id-token: write   # lets the job request an OIDC token for the Keyhole broker
  contents: read

Fork pull requests and Dependabot runs never receive OIDC tokens, whatever the permissions say;
deploy those from a workflow that runs in the base repository (for example on push after merge).`;

export class MissingPermissionError extends Error {
  constructor() {
    super(MISSING_PERMISSION_MESSAGE);
    this.name = 'MissingPermissionError';
  }
}

export async function requestOIDCToken(
  audience: string,
  env: NodeJS.ProcessEnv,
  getIDToken: (audience: string) => Promise<string>,
): Promise<string> {
  if (!env.ACTIONS_ID_TOKEN_REQUEST_URL || !env.ACTIONS_ID_TOKEN_REQUEST_TOKEN)
    throw new MissingPermissionError();
  try {
    return await getIDToken(audience);
  } catch (error) {
    throw new Error(
      `GitHub did not issue an OIDC token for audience ${audience}: ${error instanceof Error ? error.message : String(error)}`,
    );
  }
}
