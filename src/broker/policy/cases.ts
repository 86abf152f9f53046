/**
 * `policy test`: a table of named cases (claims, project, target, expected decision, optionally
 * the rule) run against a config, so an org keeps its policy's intent under CI.
 */
import { decodeJwt } from 'jose';
import { parse as parseYaml } from 'yaml';
import { z } from 'zod';
import type { CompiledConfig } from './compiled.js';
import type { PolicyClaims } from '../oidc/claims.js';
import {
  byLine,
  ConfigError,
  describeIssue,
  formatPath,
  readYaml,
  type ConfigIssue,
  type Finding,
} from './yaml-file.js';
import { evaluatePolicy, ruleName } from './evaluate.js';

/** The claims a decision reads; a claims file without one of them cannot be evaluated. */
export const POLICY_CLAIMS = [
  'repository',
  'repository_id',
  'repository_owner_id',
  'ref',
  'ref_type',
  'event_name',
  'runner_environment',
  'job_workflow_ref',
] as const;

const JWT = /^[\w-]+\.[\w-]+\.[\w-]*$/;

/** Claims from text: a raw JWT (decoded without verification: this is the admin's view), JSON or YAML. */
export function parseClaimsText(text: string): Record<string, unknown> {
  const trimmed = text.trim();
  if (JWT.test(trimmed)) return decodeJwt(trimmed);
  const value: unknown = parseYaml(trimmed);
  if (!value || typeof value !== 'object' || Array.isArray(value))
    throw new Error('the claims must be a JSON object of GitHub OIDC claims, or a raw token');
  return value as Record<string, unknown>;
}

/** The decision's claims that are missing or not text, as a phrase ("" when none). */
export function missingClaims(claims: Record<string, unknown>): string {
  const absent = POLICY_CLAIMS.filter((k) => claims[k] === undefined);
  const notText = POLICY_CLAIMS.filter((k) => claims[k] !== undefined && typeof claims[k] !== 'string');
  return [
    absent.length > 0 ? `the claims lack ${absent.join(', ')}` : '',
    notText.length > 0
      ? `${notText.join(', ')} must be quoted text, as GitHub sends them (e.g. "123456789")`
      : '',
  ]
    .filter(Boolean)
    .join('; ');
}

const claimsSource = z.union([z.string().min(1), z.record(z.string(), z.unknown())], {
  error: 'must be a claims file (path relative to the cases file) or a mapping of claims',
});

const caseSchema = z.strictObject({
  name: z.string().min(1),
  project: z.string().min(1).optional(),
  target: z.string().min(1).optional(),
  claims: claimsSource.optional(),
  expect: z.enum(['allow', 'deny']),
  /** 1-based, as in "rule 2 of marketing-site": the rule that must allow. */
  rule: z.number().int().min(1).optional(),
  /** Text the caller's denial message must contain. */
  reason: z.string().min(1).optional(),
});

const casesSchema = z.strictObject({
  defaults: z
    .strictObject({
      project: z.string().min(1).optional(),
      target: z.string().min(1).optional(),
      claims: claimsSource.optional(),
    })
    .optional(),
  cases: z.array(caseSchema).min(1, 'add at least one case'),
});

const KNOWN_KEYS: Record<string, string[]> = {
  top: Object.keys(casesSchema.shape),
  defaults: ['project', 'target', 'claims'],
  case: Object.keys(caseSchema.shape),
};

function knownKeysAt(at: readonly PropertyKey[]): string[] {
  if (at.length === 0) return KNOWN_KEYS.top!;
  if (at[0] === 'defaults') return KNOWN_KEYS.defaults!;
  if (at[0] === 'cases' && at.length === 2) return KNOWN_KEYS.case!;
  return [];
}

export interface PolicyCase {
  name: string;
  line?: number;
  project: string;
  target: string;
  claims: PolicyClaims;
  expect: 'allow' | 'deny';
  rule?: number;
  reason?: string;
}

/**
 * Reads a cases file; `readFile` reads a claims file named relative to it. Throws ConfigError with
 * every problem (file:line, what to write) before any case runs.
 */
export function loadCases(text: string, file: string, readFile: (path: string) => string): PolicyCase[] {
  const { raw, place } = readYaml(text, file);
  const parsed = casesSchema.safeParse(raw);
  if (!parsed.success) {
    const findings = parsed.error.issues.flatMap((issue) => describeIssue(issue, raw, knownKeysAt));
    throw new ConfigError(file, findings.map(place).sort(byLine));
  }
  const errors: Finding[] = [];
  const load = (source: string | Record<string, unknown> | undefined, at: (string | number)[]) => {
    if (source === undefined || typeof source === 'object') return source ?? {};
    try {
      return parseClaimsText(readFile(source));
    } catch (error) {
      const reason = (error as NodeJS.ErrnoException).code ?? (error as Error).message;
      errors.push({ path: at, message: `cannot read claims file ${source}: ${reason}` });
      return {};
    }
  };
  const { defaults = {} } = parsed.data;
  const base = load(defaults.claims, ['defaults', 'claims']);
  const cases = parsed.data.cases.map((c, i): PolicyCase => {
    const at = ['cases', i];
    const claims = { ...base, ...load(c.claims, [...at, 'claims']) };
    const missing = missingClaims(claims);
    if (missing && !errors.some((e) => formatPath(e.path).startsWith(formatPath(at)))) {
      errors.push({
        path: [...at, 'claims'],
        near: at,
        message: `${missing}; write them here or under defaults.claims (a decoded GitHub OIDC token has them all)`,
      });
    }
    const project = c.project ?? defaults.project;
    const target = c.target ?? defaults.target;
    if (!project) errors.push({ path: [...at, 'project'], message: 'is required here or under defaults' });
    if (!target) errors.push({ path: [...at, 'target'], message: 'is required here or under defaults' });
    if (c.rule !== undefined && c.expect !== 'allow')
      errors.push({
        path: [...at, 'rule'],
        message: 'names the rule that allows; use it with expect: allow',
      });
    if (c.reason !== undefined && c.expect !== 'deny')
      errors.push({
        path: [...at, 'reason'],
        message: 'is the denial the caller sees; use it with expect: deny',
      });
    const line = place({ path: at, message: '' }).line;
    return {
      name: c.name,
      ...(line ? { line } : {}),
      project: project ?? '',
      target: target ?? '',
      claims: claims as unknown as PolicyClaims,
      expect: c.expect,
      ...(c.rule !== undefined ? { rule: c.rule } : {}),
      ...(c.reason !== undefined ? { reason: c.reason } : {}),
    };
  });
  if (errors.length > 0) throw new ConfigError(file, errors.map(place).sort(byLine) as ConfigIssue[]);
  return cases;
}

export interface CaseResult {
  policyCase: PolicyCase;
  passed: boolean;
  /** What happened, in the words of the expectation: "allow by rule 2 of site" or "deny: <message>". */
  actual: string;
  expected: string;
}

export function runCases(config: CompiledConfig, cases: readonly PolicyCase[]): CaseResult[] {
  return cases.map((policyCase) => {
    const { project, target, claims, expect, rule, reason } = policyCase;
    const decision = evaluatePolicy(config, claims, project, target);
    const actual = decision.allowed
      ? `allow by ${ruleName(project, decision.grant.ruleIndex)}`
      : `deny: ${decision.message}`;
    const expected =
      expect === 'allow'
        ? `allow${rule ? ` by ${ruleName(project, rule - 1)}` : ''}`
        : `deny${reason ? `: …${reason}…` : ''}`;
    const passed = decision.allowed
      ? expect === 'allow' && (rule === undefined || decision.grant.ruleIndex === rule - 1)
      : expect === 'deny' && (reason === undefined || decision.message.includes(reason));
    return { policyCase, passed, actual, expected };
  });
}

/** A diff-like report: every case on one line, each mismatch with expected (-) and actual (+). */
export function formatCaseReport(results: readonly CaseResult[], casesFile: string): string {
  const lines: string[] = [];
  for (const { policyCase, passed, actual, expected } of results) {
    const where = policyCase.line ? `  (${casesFile}:${policyCase.line})` : '';
    const request = `${policyCase.project} → ${policyCase.target}`;
    if (passed) {
      lines.push(`ok    ${policyCase.name}  [${request}: ${actual.replace(/^deny: .*/, 'deny')}]`);
    } else {
      lines.push(
        `FAIL  ${policyCase.name}  [${request}]${where}`,
        `      - expected: ${expected}`,
        `      + actual:   ${actual}`,
      );
    }
  }
  const failed = results.filter((r) => !r.passed).length;
  lines.push(
    `${results.length} case${results.length === 1 ? '' : 's'}: ${results.length - failed} passed, ${failed} failed`,
  );
  return lines.join('\n');
}
