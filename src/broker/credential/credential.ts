/** The deploy credential: opaque to clients, stateless to verify (HMAC-SHA-256 with a key id), `khd_` prefixed. */
import { CREDENTIAL_MAX_LENGTH, CREDENTIAL_PATTERN } from '../../shared/wire.js';
import { concatBytes, fromHex, toHex } from '../bytes.js';
import { invalidCredential } from '../errors.js';

export interface CredentialClaims {
  v: 1;
  /** Credential id: the only part of a credential that audit lines carry. */
  cid: string;
  /** Config name, Vercel project id and team id of the pinned project. */
  pn: string;
  prj: string;
  team: string;
  /** The one target this credential may deploy to. */
  tgt: string;
  rid: string;
  repo: string;
  ref: string;
  sha: string;
  run: string;
  att: string;
  wf: string;
  env?: string;
  /** The event that started the job (`event_name`): provenance of a `workflow_run` deploy reads differently. */
  evt?: string;
  /** The job that obtained it (`jobKey`): per-job limits and quotas count on this, not on `cid`. */
  job?: string;
  /** The job's check run id (its job id in GitHub's URLs), when the OIDC token carried one. */
  crid?: string;
  /** RFC 9449 `cnf.jkt`: the thumbprint of the key whose DPoP proofs every call must carry. */
  jkt?: string;
  iat: number;
  exp: number;
}

export interface SigningKey {
  kid: string;
  key: CryptoKey;
  /** The platform's synchronous HMAC-SHA-256 with this key (the Node host's); WebCrypto when absent. */
  mac?: (data: Uint8Array) => Uint8Array;
}

/** Makes a synchronous HMAC-SHA-256 for a secret: injected by a host whose platform has one (host/node). */
export type HmacFactory = (secret: Uint8Array) => (data: Uint8Array) => Uint8Array;

export interface SigningKeys {
  /** The first key signs; every key verifies (rotation). */
  keys: readonly SigningKey[];
  ephemeral: boolean;
}

const encoder = new TextEncoder();
const decoder = new TextDecoder();

function fromBase64Url(text: string): Uint8Array {
  const base64 = text.replace(/-/g, '+').replace(/_/g, '/');
  return Uint8Array.from(atob(base64), (c) => c.charCodeAt(0));
}

async function importKey(secret: Uint8Array): Promise<CryptoKey> {
  return crypto.subtle.importKey('raw', secret as BufferSource, { name: 'HMAC', hash: 'SHA-256' }, false, [
    'sign',
    'verify',
  ]);
}

/**
 * Reads `kid1:<base64url secret>,kid2:<…>` (≥ 32 bytes each). Without a value the broker makes an
 * ephemeral key: it works, but a restart invalidates every credential in flight.
 */
export async function loadSigningKeys(
  value: string | undefined,
  envName: string,
  hmac?: HmacFactory,
): Promise<SigningKeys> {
  const signingKey = async (kid: string, secret: Uint8Array): Promise<SigningKey> => ({
    kid,
    key: await importKey(secret),
    ...(hmac ? { mac: hmac(secret) } : {}),
  });
  if (!value || value.trim() === '') {
    return { keys: [await signingKey('eph', crypto.getRandomValues(new Uint8Array(32)))], ephemeral: true };
  }
  const keys: SigningKey[] = [];
  for (const [i, part] of value.split(',').entries()) {
    const match = /^\s*([A-Za-z0-9]{1,16}):([A-Za-z0-9_-]+={0,2})\s*$/.exec(part);
    if (!match) {
      throw new Error(
        `${envName}: entry ${i + 1} must look like kid:<base64url secret> (kid = 1-16 letters or digits)`,
      );
    }
    const secret = fromBase64Url(match[2]!.replace(/=+$/, ''));
    if (secret.length < 32) {
      throw new Error(
        `${envName}: key "${match[1]}" has ${secret.length} bytes; use at least 32 random bytes (openssl rand -base64 32)`,
      );
    }
    if (keys.some((k) => k.kid === match[1]))
      throw new Error(`${envName}: key id "${match[1]}" appears twice`);
    keys.push(await signingKey(match[1]!, secret));
  }
  return { keys, ephemeral: false };
}

/**
 * Bytes ↔ base32 (`0-9a-v`, no padding): the Vercel CLI accepts only `\w` in tokens, so base64's
 * `-` and `+` are out. Linear bit-shifting; a BigInt base-36 conversion cost ~30 µs per call.
 */
const BASE32 = '0123456789abcdefghijklmnopqrstuv';
const BASE32_CODES = Uint8Array.from(BASE32, (c) => c.charCodeAt(0));

/**
 * Into a byte array decoded once: appending one character at a time built a string object per
 * character, about a quarter of everything the broker allocated per exchange.
 */
function toBase32(bytes: Uint8Array): string {
  const out = new Uint8Array(Math.ceil((bytes.length * 8) / 5));
  let index = 0;
  let buffer = 0;
  let bits = 0;
  for (const byte of bytes) {
    buffer = (buffer << 8) | byte;
    bits += 8;
    while (bits >= 5) {
      bits -= 5;
      out[index++] = BASE32_CODES[(buffer >>> bits) & 31]!;
    }
    buffer &= (1 << bits) - 1;
  }
  if (bits > 0) out[index++] = BASE32_CODES[(buffer << (5 - bits)) & 31]!;
  return decoder.decode(out);
}

function fromBase32(text: string): Uint8Array | undefined {
  const out = new Uint8Array(Math.floor((text.length * 5) / 8));
  let buffer = 0;
  let bits = 0;
  let index = 0;
  for (const c of text) {
    const value = BASE32.indexOf(c);
    if (value === -1) return undefined;
    buffer = ((buffer << 5) | value) & 0xfff;
    bits += 5;
    if (bits >= 8) {
      bits -= 8;
      out[index++] = (buffer >>> bits) & 0xff;
    }
  }
  return out;
}

const RAW = 0x01;
const DEFLATED = 0x02;

/** deflate-raw keeps long refs and workflow paths well under the 1 KiB cap (web-standard streams). */
async function deflate(bytes: Uint8Array): Promise<Uint8Array> {
  const stream = new Blob([bytes as BlobPart]).stream().pipeThrough(new CompressionStream('deflate-raw'));
  return new Uint8Array(await new Response(stream).arrayBuffer());
}

/** Runs only after the MAC verified, and still refuses to inflate past 8 KiB. */
async function inflate(bytes: Uint8Array): Promise<Uint8Array | undefined> {
  try {
    const reader = new Blob([bytes as BlobPart])
      .stream()
      .pipeThrough(new DecompressionStream('deflate-raw'))
      .getReader();
    const chunks: Uint8Array[] = [];
    let size = 0;
    for (;;) {
      const { done, value } = await reader.read();
      if (done) break;
      size += value.byteLength;
      if (size > 8192) return undefined;
      chunks.push(value);
    }
    return concatBytes(chunks);
  } catch {
    return undefined;
  }
}

/**
 * Credential ids from a block of random bytes drawn 4 KiB at a time: each getRandomValues call has
 * a fixed cost of microseconds, paid per exchange before. Ids are not secrets (audit lines carry
 * them); the block is filled lazily, as workerd refuses random values at module scope.
 */
const idBytes = new Uint8Array(4096);
let idBytesUsed = idBytes.length;
function randomId(): string {
  if (idBytesUsed + 12 > idBytes.length) {
    crypto.getRandomValues(idBytes);
    idBytesUsed = 0;
  }
  idBytesUsed += 12;
  return toHex(idBytes.subarray(idBytesUsed - 12, idBytesUsed));
}

/** A new credential's claims with their id: recorded for a retry before they are signed. */
export function newCredentialClaims(claims: Omit<CredentialClaims, 'v' | 'cid'>): CredentialClaims {
  return { v: 1, cid: `cred_${randomId()}`, ...claims };
}

export async function mintCredential(
  keys: SigningKeys,
  claims: Omit<CredentialClaims, 'v' | 'cid'>,
): Promise<{ credential: string; claims: CredentialClaims }> {
  return signCredential(keys, newCredentialClaims(claims));
}

/**
 * Signs claims that already have their id: the same claims (in the same key order) under the same
 * key give the same credential, which is how a retried exchange gets its credential back without
 * the store ever holding a usable secret.
 */
export async function signCredential(
  keys: SigningKeys,
  full: CredentialClaims,
): Promise<{ credential: string; claims: CredentialClaims }> {
  const signer = keys.keys[0]!;
  const json = encoder.encode(JSON.stringify(full));
  // Raw JSON is the fast path; only claims too long for the 1 KiB cap pay for deflate.
  let body = toBase32(concatBytes([Uint8Array.of(RAW), json]));
  if (body.length > CREDENTIAL_MAX_LENGTH - 100)
    body = toBase32(concatBytes([Uint8Array.of(DEFLATED), await deflate(json)]));
  const signed = `khd_${signer.kid}_${body}`;
  const data = encoder.encode(signed);
  const mac = signer.mac
    ? signer.mac(data)
    : new Uint8Array(await crypto.subtle.sign('HMAC', signer.key, data));
  const credential = `${signed}_${toHex(mac)}`;
  if (credential.length > CREDENTIAL_MAX_LENGTH) {
    throw new Error(`credential would be ${credential.length} bytes; shorten the ref or workflow path`);
  }
  return { credential, claims: full };
}

/** MACs compared without an early exit: the time taken says nothing about where they differ. */
function equalInConstantTime(a: Uint8Array, b: Uint8Array): boolean {
  if (a.length !== b.length) return false;
  let difference = 0;
  for (let i = 0; i < a.length; i++) difference |= a[i]! ^ b[i]!;
  return difference === 0;
}

/** Verifies signature and expiry; every failure is the same `invalid_credential`. */
export async function verifyCredential(
  keys: SigningKeys,
  credential: string,
  now = Date.now(),
): Promise<CredentialClaims> {
  if (credential.length > CREDENTIAL_MAX_LENGTH || !CREDENTIAL_PATTERN.test(credential))
    throw invalidCredential();
  const parts = credential.split('_');
  if (parts.length !== 4) throw invalidCredential();
  const [, kid, body, macHex] = parts as [string, string, string, string];
  const signer = keys.keys.find((k) => k.kid === kid);
  if (!signer || !/^[0-9a-f]{64}$/.test(macHex) || !/^[0-9a-v]+$/.test(body)) throw invalidCredential();
  const data = encoder.encode(`khd_${kid}_${body}`);
  const valid = signer.mac
    ? equalInConstantTime(signer.mac(data), fromHex(macHex))
    : await crypto.subtle.verify('HMAC', signer.key, fromHex(macHex) as BufferSource, data);
  if (!valid) throw invalidCredential();
  const packed = fromBase32(body);
  const bytes =
    packed?.[0] === RAW
      ? packed.subarray(1)
      : packed?.[0] === DEFLATED
        ? await inflate(packed.subarray(1))
        : undefined;
  if (!bytes) throw invalidCredential();
  let claims: CredentialClaims;
  try {
    claims = JSON.parse(decoder.decode(bytes)) as CredentialClaims;
  } catch {
    throw invalidCredential();
  }
  if (claims.v !== 1 || typeof claims.exp !== 'number') throw invalidCredential();
  if (claims.exp <= now) throw invalidCredential('The credential has expired; run the exchange again.');
  return claims;
}

/**
 * Verification with a bounded cache: a credential is checked cryptographically once, then looked up
 * (the same string carries the same MAC); expiry is still checked on every call.
 */
export function createCredentialVerifier(keys: SigningKeys, maxEntries = 10_000) {
  const cache = new Map<string, CredentialClaims>();
  return async (credential: string, now = Date.now()): Promise<CredentialClaims> => {
    const cached = cache.get(credential);
    if (cached) {
      if (cached.exp <= now) {
        cache.delete(credential);
        throw invalidCredential('The credential has expired; run the exchange again.');
      }
      return cached;
    }
    const claims = await verifyCredential(keys, credential, now);
    if (cache.size >= maxEntries) cache.delete(cache.keys().next().value!);
    cache.set(credential, claims);
    return claims;
  };
}
