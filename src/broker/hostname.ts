/**
 * Host names as Vercel accepts them: a DNS label, and an alias normalised for comparison. A leaf
 * shared by the policy (patterns, checked once) and the gateway (aliases, at each call).
 */
import { foldCase } from './fold-case.js';

/** A DNS label as Vercel accepts it: lower-case letters, digits and inner hyphens, at most 63. */
export const LABEL = /^[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?$/;

/**
 * The alias as the gateway compares it, or why it is refused. Upper case is folded (DNS is
 * case-insensitive); a trailing dot, non-ASCII (which Vercel would turn into punycode behind the
 * pattern's back), a scheme, a port or a path are refused rather than guessed at.
 */
export function normalizeAlias(value: unknown): { alias: string } | { error: string } {
  if (typeof value !== 'string' || value.length === 0 || value.length > 253)
    return { error: 'alias must be a host name of at most 253 characters' };
  if (!/^[\x21-\x7e]+$/.test(value))
    return { error: 'alias must be plain ASCII; write IDNA names in their xn-- form' };
  if (value.endsWith('.')) return { error: 'alias must not end with a dot' };
  const alias = foldCase(value);
  if (!alias.split('.').every((label) => LABEL.test(label)))
    return { error: `alias ${JSON.stringify(value)} is not a host name (labels of a-z, 0-9, -)` };
  return { alias };
}
