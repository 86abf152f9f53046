/** GitHub's signing keys: one cached remote JWKS per process, with a bounded fallback to the last good set. */
import {
  createLocalJWKSet,
  createRemoteJWKSet,
  customFetch,
  errors as joseErrors,
  jwksCache,
  type ExportedJWKSCache,
  type JWKSCacheInput,
  type JSONWebKeySet,
  type JWTVerifyGetKey,
} from 'jose';

export interface KeySetOptions {
  fetch?: typeof fetch;
  /** How long a fetched set is used before it is fetched again (jose `cacheMaxAge`). */
  cacheMaxAgeMs?: number;
  /** How long a fetch may take before the exchange answers 503 (jose `timeoutDuration`). */
  timeoutMs?: number;
  /** How long the last good set keeps verifying tokens while the endpoint is unreachable. */
  maxStaleMs?: number;
  onStale?: (ageMs: number, reason: string) => void;
  now?: () => number;
}

/** The key endpoint could not be read: the broker's outage, never the token's fault (503, not 401). */
export class KeySetFetchError extends Error {
  constructor(url: string, reason: string) {
    super(`JWKS fetch failed: ${url}: ${reason}`);
    this.name = 'KeySetFetchError';
  }
}

function isFetchFailure(error: unknown): boolean {
  if (error instanceof joseErrors.JWKSTimeout || error instanceof joseErrors.JWKSInvalid) return true;
  if (error instanceof TypeError) return true; // network failure inside fetch
  // jose reports a non-200 answer from the JWKS endpoint as a plain JOSEError.
  return error instanceof joseErrors.JOSEError && error.code === 'ERR_JOSE_GENERIC';
}

/** fetch's own "fetch failed" hides the cause (ECONNREFUSED, a TLS error): name it. */
function describeFetchFailure(error: unknown): string {
  if (!(error instanceof Error)) return String(error);
  const cause = error.cause as { code?: string; message?: string } | undefined;
  const detail = cause?.code ?? cause?.message;
  return detail && !error.message.includes(detail) ? `${error.message}: ${detail}` : error.message;
}

export function createGitHubKeySet(jwksUrl: string, options: KeySetOptions = {}): JWTVerifyGetKey {
  const now = options.now ?? Date.now;
  const maxStaleMs = options.maxStaleMs ?? 6 * 3600_000;
  // jose stores every key set it applies here (the parsed answer, a new object per fetch): the
  // fallback below is rebuilt only when that object changed. Rebuilding it (two structured clones of the set) on every exchange was 3%
  // of the broker's CPU under exchange load.
  const applied: Partial<ExportedJWKSCache> = {};
  const remote = createRemoteJWKSet(new URL(jwksUrl), {
    cooldownDuration: 30_000,
    cacheMaxAge: options.cacheMaxAgeMs ?? 600_000,
    timeoutDuration: options.timeoutMs ?? 5_000,
    [jwksCache]: applied as JWKSCacheInput,
    ...(options.fetch ? { [customFetch]: options.fetch } : {}),
  });
  let lastGood: { jwks: JSONWebKeySet; at: number; local: JWTVerifyGetKey } | undefined;
  return async (header, token) => {
    try {
      const key = await remote(header, token);
      const jwks = applied.jwks;
      if (jwks && (!lastGood || remote.fresh)) {
        if (lastGood?.jwks === jwks) lastGood.at = now();
        else lastGood = { jwks, at: now(), local: createLocalJWKSet(jwks) };
      }
      return key;
    } catch (error) {
      if (!isFetchFailure(error)) throw error;
      const reason = describeFetchFailure(error);
      if (lastGood && now() - lastGood.at <= maxStaleMs) {
        options.onStale?.(now() - lastGood.at, reason);
        return lastGood.local(header, token);
      }
      throw new KeySetFetchError(jwksUrl, reason);
    }
  };
}
