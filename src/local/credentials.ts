/** Credential claims of the local world's `marketing-site` preview job, for tests that mint credentials themselves. */
import type { CredentialClaims } from '../broker/credential/credential.js';

/** What `mintCredential` takes: the claims without the version and id it adds. */
export type MintableClaims = Omit<CredentialClaims, 'v' | 'cid'>;

/** A job of `acme/marketing` on main (as `defaultClaims` in github-oidc.ts), valid for a minute. */
export function localCredentialClaims(overrides: Partial<MintableClaims> = {}): MintableClaims {
  const now = Date.now();
  return {
    pn: 'marketing-site',
    prj: 'prj_marketing',
    team: 'team_abc123',
    tgt: 'preview',
    rid: '123456789',
    repo: 'acme/marketing',
    ref: 'refs/heads/main',
    sha: 'a3f1c0d2e4b5a6978899aabbccddeeff00112233',
    run: '7000000001',
    att: '1',
    wf: 'acme/marketing/.github/workflows/deploy.yml@refs/heads/main',
    iat: now,
    exp: now + 60_000,
    ...overrides,
  };
}
