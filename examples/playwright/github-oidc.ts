/**
 * The job's GitHub OIDC token for Vercel's Trusted Sources, requested from inside the test run (the
 * runner's ACTIONS_ID_TOKEN_REQUEST_URL), so it is never written to $GITHUB_ENV, an output or a file.
 * Needs `permissions: id-token: write` on the job.
 */
export const TRUSTED_OIDC_HEADER = 'x-vercel-trusted-oidc-idp-token';
/** The audience the Trusted Sources rule pins (docs/protected-previews.md): not the broker's. */
export const TRUSTED_SOURCES_AUDIENCE = 'vercel-trusted-sources';

export async function githubOidcToken(audience = TRUSTED_SOURCES_AUDIENCE): Promise<string> {
  const url = process.env.ACTIONS_ID_TOKEN_REQUEST_URL;
  const bearer = process.env.ACTIONS_ID_TOKEN_REQUEST_TOKEN;
  if (!url || !bearer) throw new Error('No OIDC token: give the job permissions: id-token: write');
  const request = new URL(url);
  request.searchParams.set('audience', audience);
  const response = await fetch(request, { headers: { authorization: `Bearer ${bearer}` } });
  if (!response.ok) throw new Error(`GitHub refused the OIDC token request: ${response.status}`);
  const { value } = (await response.json()) as { value: string };
  // Masked in the job log before anything could print it.
  if (process.env.GITHUB_ACTIONS) process.stdout.write(`::add-mask::${value}\n`);
  return value;
}
