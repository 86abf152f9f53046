/**
 * Preview alias patterns (`preview_aliases`): what a pattern may say and whether an alias matches.
 * Pure functions for `policy check` (the schema) and the compiled config; how an alias is
 * normalised lives in ../hostname.ts, which the gateway reads without depending on the policy.
 */
import { foldCase } from '../fold-case.js';
import { LABEL } from '../hostname.js';

export { normalizeAlias } from '../hostname.js';

/**
 * Second-level labels that registries under two-letter country codes hand out to the public
 * (`co.uk`, `com.au`, `ne.jp`, …): `*.co.uk` would claim every company in the UK. Not the Public
 * Suffix List — a short, conservative heuristic that errs towards refusing.
 */
const PUBLIC_SECOND_LEVEL = new Set([
  'ac',
  'biz',
  'co',
  'com',
  'edu',
  'gen',
  'go',
  'gob',
  'gouv',
  'gov',
  'govt',
  'info',
  'ltd',
  'me',
  'mil',
  'ne',
  'net',
  'nic',
  'nom',
  'or',
  'org',
  'plc',
  'sch',
]);

/**
 * Shared hosting domains: every customer of the host gets names under them, so a pattern there
 * would let a preview claim names that read as someone else's (`acme.vercel.app`).
 */
export const SHARED_HOSTING_SUFFIXES = [
  'vercel.app',
  'vercel.dev',
  'now.sh',
  'netlify.app',
  'github.io',
  'pages.dev',
  'workers.dev',
  'herokuapp.com',
  'web.app',
  'firebaseapp.com',
  'appspot.com',
  'azurewebsites.net',
  'cloudfront.net',
  'fly.dev',
  'onrender.com',
  'amplifyapp.com',
];

/** True when `labels` name a public suffix by the heuristic above (a TLD, `co.uk`, `vercel.app`). */
function isPublicSuffix(labels: readonly string[]): boolean {
  if (labels.length <= 1) return true;
  const name = labels.join('.');
  if (SHARED_HOSTING_SUFFIXES.includes(name)) return true;
  return labels.length === 2 && labels[1]!.length === 2 && PUBLIC_SECOND_LEVEL.has(labels[0]!);
}

const sharedParent = (name: string) =>
  SHARED_HOSTING_SUFFIXES.find((suffix) => name === suffix || name.endsWith(`.${suffix}`));

/**
 * A leftmost label with a fixed start and `*` for the rest, e.g. `staging-*` (custom environments'
 * aliases, `custom_environment_aliases`): the `*` stands for at least one more character.
 */
const PREFIX_WILDCARD = /^[a-z0-9][a-z0-9-]{0,61}\*$/;

/**
 * Why a pattern is refused, or undefined when it is acceptable. The rule: lower-case ASCII DNS
 * labels (no punycode `xn--`, no trailing dot); `*` only as the whole leftmost label or the end of
 * it (`staging-*`); what follows the wildcard label (or an exact name) must not be a public suffix;
 * nothing under a shared hosting domain may be a wildcard.
 */
export function checkAliasPattern(pattern: string): string | undefined {
  if (pattern !== foldCase(pattern))
    return `write "${foldCase(pattern)}": patterns are lower-case (aliases are compared case-insensitively)`;
  if (pattern.endsWith('.')) return 'drop the trailing dot; write the name without it';
  if (pattern.length > 253) return 'a domain name has at most 253 characters';
  const labels = pattern.split('.');
  const wildcard = labels[0] === '*' || PREFIX_WILDCARD.test(labels[0]!);
  const rest = wildcard ? labels.slice(1) : labels;
  for (const label of rest) {
    if (label.includes('*'))
      return '"*" may only be the whole leftmost label or end it, e.g. "*.preview.acme.dev" or "staging-*.acme.dev" (one label, nothing else)';
    if (!LABEL.test(label))
      return `"${label}" is not a DNS label: use a-z, 0-9 and inner hyphens, at most 63 characters`;
    if (/^..--/.test(label))
      return `"${label}" is an IDNA (punycode) label; use the ASCII names your previews live under`;
  }
  if (isPublicSuffix(rest)) {
    return wildcard
      ? `"${pattern}" wildcards a whole public suffix; put the previews under a domain of yours, e.g. "*.preview.acme.dev"`
      : `"${pattern}" is a public suffix, not a name of yours`;
  }
  const shared = sharedParent(rest.join('.'));
  if (wildcard && shared)
    return `"${pattern}" wildcards names under the shared hosting domain ${shared}; list exact names there, or use a domain of yours`;
  return undefined;
}

export type AliasMatcher = (alias: string) => boolean;

/** Whether one label of an alias fits one label of a pattern: `*` any label, `pre-*` one that starts so. */
function labelMatches(label: string, part: string): boolean {
  if (label === '*') return isWildcardLabel(part);
  if (label.endsWith('*')) {
    const prefix = label.slice(0, -1);
    return part.length > prefix.length && part.startsWith(prefix) && isWildcardLabel(part);
  }
  return label === part;
}

/** `*` stands for exactly one label of the alias (`pre-*`: one label starting `pre-`); every other label compares equal. */
export function compileAliasPattern(pattern: string): AliasMatcher {
  const labels = pattern.split('.');
  return (alias) => {
    const parts = alias.split('.');
    return parts.length === labels.length && labels.every((label, i) => labelMatches(label, parts[i]!));
  };
}

/** A label `*` may stand for: plain ASCII, not an IDNA (`xn--`) label that could render as anything. */
const isWildcardLabel = (label: string) => LABEL.test(label) && !/^..--/.test(label);

/** Whether some label fits both pattern labels (`*`, `pre-*` or exact). */
function labelsOverlap(a: string, b: string): boolean {
  if (a === b || a === '*' || b === '*') return true;
  const wild = (l: string) => (l.endsWith('*') ? l.slice(0, -1) : undefined);
  const [pa, pb] = [wild(a), wild(b)];
  if (pa !== undefined && pb !== undefined) return pa.startsWith(pb) || pb.startsWith(pa);
  if (pa !== undefined) return b.length > pa.length && b.startsWith(pa);
  if (pb !== undefined) return a.length > pb.length && a.startsWith(pb);
  return false;
}

/** Two patterns overlap when some alias matches both: same length, every label pair overlapping. */
export function aliasPatternsOverlap(a: string, b: string): boolean {
  const x = a.split('.');
  const y = b.split('.');
  return x.length === y.length && x.every((label, i) => labelsOverlap(label, y[i]!));
}
