/** Who is calling: the Keyhole credential (Bearer or DPoP-bound), not revoked, its job still running. */
import { createCredentialVerifier, type CredentialClaims } from '../credential/credential.js';
import { ProofError, verifyProof, type ProofRequest } from '../credential/dpop.js';
import { invalidCredential, type BrokerError } from '../errors.js';
import type { GatewayDeps } from './context.js';

/** A web Request, or an adapter's lean view of a call: its method and header values. */
export type Authenticate = (request: ProofRequest, rawTarget: string) => Promise<CredentialClaims>;

export function createAuthenticator(
  deps: Pick<GatewayDeps, 'config' | 'keys' | 'store' | 'now' | 'revocations' | 'jobStatus'>,
): Authenticate {
  const verifyCredential = createCredentialVerifier(deps.keys);
  return async function authenticate(request, rawTarget) {
    const header = request.headers.get('authorization') ?? '';
    const match = /^(Bearer|DPoP) (\S+)$/i.exec(header);
    if (!match) throw invalidCredential('Send the Keyhole credential as "Authorization: Bearer khd_…".');
    const [, scheme, credential] = match as unknown as [string, string, string];
    const claims = await verifyCredential(credential, deps.now());
    const refuse = (error: BrokerError, reason: string) => error.with({ claims, reason });
    await deps.revocations.check(claims);
    if (claims.jkt) {
      // RFC 9449 §7.1: a bound credential presented as a bearer token is refused, proof or not.
      if (scheme.toLowerCase() !== 'dpop')
        throw refuse(
          new ProofError(
            401,
            'missing',
            'This credential is bound to a key (DPoP): send "Authorization: DPoP khd_…" and a fresh proof in the "DPoP" header.',
          ),
          'dpop proof missing',
        );
      try {
        await verifyProof({
          request,
          publicUrl: deps.config.publicUrl!,
          path: pathOf(rawTarget),
          store: deps.store,
          now: deps.now,
          credential,
          boundTo: claims.jkt,
          status: 401,
        });
      } catch (error) {
        if (error instanceof ProofError) throw refuse(error, `dpop proof ${error.failure}`);
        throw error;
      }
    } else if (scheme.toLowerCase() === 'dpop') {
      throw refuse(
        invalidCredential('This credential is not bound to a key; send it as "Authorization: Bearer khd_…".'),
        'dpop scheme with an unbound credential',
      );
    } else if (deps.config.projects.get(claims.pn)?.requireDpop) {
      // Policy is re-read on every call: bearer credentials minted before require_dpop was turned on stop at once.
      throw refuse(
        invalidCredential(
          `Project ${claims.pn} now requires DPoP-bound credentials (require_dpop: true); run the Keyhole action again for a new credential.`,
        ),
        'unbound credential for a require_dpop project',
      );
    }
    await deps.jobStatus?.onCall(claims, deps.config.projects.get(claims.pn));
    return claims;
  };
}

/** The path of a request target (origin-form or absolute-form), as a DPoP proof's `htu` names it. */
function pathOf(rawTarget: string): string {
  if (rawTarget.startsWith('/')) return rawTarget.replace(/[?#].*$/s, '');
  try {
    return new URL(rawTarget).pathname;
  } catch {
    return rawTarget;
  }
}
