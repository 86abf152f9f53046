/**
 * The policy language's checks beyond the schema, run on the raw document so they report alongside
 * schema errors in one pass: each finding says what to write instead.
 */
import { closestMatch, type Finding, type IssuePath } from './yaml-file.js';
import { RISKY_EVENTS } from './compile.js';
import { BUILT_IN_TARGETS } from '../../shared/wire.js';

export interface Findings {
  errors: Finding[];
  warnings: Finding[];
}

/**
 * `event_name` values GitHub can put in an Actions OIDC token: the workflow triggers
 * (docs.github.com "Events that trigger workflows") plus `dynamic` (Dependabot, code scanning).
 */
export const GITHUB_EVENTS = [
  'branch_protection_rule',
  'check_run',
  'check_suite',
  'create',
  'delete',
  'deployment',
  'deployment_status',
  'discussion',
  'discussion_comment',
  'dynamic',
  'fork',
  'gollum',
  'issue_comment',
  'issues',
  'label',
  'merge_group',
  'milestone',
  'page_build',
  'public',
  'pull_request',
  'pull_request_review',
  'pull_request_review_comment',
  'pull_request_target',
  'push',
  'registry_package',
  'release',
  'repository_dispatch',
  'schedule',
  'status',
  'watch',
  'workflow_call',
  'workflow_dispatch',
  'workflow_run',
] as const;

/** Characters that only make sense in a regular expression; a glob pattern never needs them. */
const REGEX_SYNTAX = /[\^$()|\\[\]{}?]/;
/**
 * `.*` or `.+` at the start of a segment or after `-`/`_`: a regular expression's "anything", never
 * a sensible glob (`refs/tags/v1.*` is a fine glob and is left alone).
 */
const REGEX_WILDCARD = /(^|[/_-])\.[*+]|\.\+/;

export function looksLikeRegex(pattern: string): boolean {
  return REGEX_SYNTAX.test(pattern) || REGEX_WILDCARD.test(pattern);
}

/**
 * The globs that mean what a regular-expression-looking pattern most likely meant, or undefined
 * when it is too clever to translate: `^refs/heads/(main|develop)$` → refs/heads/main and
 * refs/heads/develop; `refs/heads/release-.*` → refs/heads/release-*; `refs/heads/.*` → refs/heads/**.
 */
export function globsFor(pattern: string): string[] | undefined {
  let text = pattern.trim().replace(/^\^/, '').replace(/\$$/, '');
  text = text.replace(/\\([./-])/g, '$1');
  // "Anything within a segment": character classes and classes of word characters.
  text = text.replace(/(\[\^\/\]|\[[A-Za-z0-9_-]+\]|\\[wd]|\.)[*+]/g, (whole, _atom, offset: number) => {
    const segmentStart = offset === 0 || text[offset - 1] === '/';
    const after = text.slice(offset + whole.length);
    const segmentEnd = after === '' || after.startsWith('/');
    // `.*` matches across "/": as a whole segment it is **; inside a segment it reads as *.
    return whole.startsWith('.') && segmentStart && segmentEnd ? '**' : '*';
  });
  let globs = [text];
  for (;;) {
    const group = /\(([^()]*)\)/.exec(globs[0]!);
    if (!group) break;
    const choices = group[1]!.split('|');
    globs = globs.flatMap((glob) => {
      const found = /\(([^()]*)\)/.exec(glob)!;
      return choices.map(
        (choice) => glob.slice(0, found.index) + choice + glob.slice(found.index + found[0].length),
      );
    });
    if (globs.length > 8) return undefined;
  }
  if (globs.some((glob) => REGEX_SYNTAX.test(glob) || glob.includes('+') || glob === '')) return undefined;
  return globs;
}

const quoteList = (values: readonly string[]) => values.map((v) => `"${v}"`).join(', ');

function patternAdvice(pattern: string, kind: 'refs' | 'workflows'): string | undefined {
  if (!looksLikeRegex(pattern)) return undefined;
  const globs = globsFor(pattern);
  const write = globs
    ? `write ${globs.length === 1 ? quoteList(globs) : `one entry each: [${quoteList(globs)}]`}`
    : kind === 'refs'
      ? 'write one glob per ref instead, e.g. "refs/heads/main", "refs/heads/release-*"'
      : 'write one glob per workflow instead, e.g. "acme/site/.github/workflows/deploy.yml@refs/heads/main"';
  return `"${pattern}" looks like a regular expression, but patterns are globs (* = one segment, ** = any number); ${write}`;
}

/** A ref written without its `refs/` prefix, and the full ref that was most likely meant. */
function shortRefAdvice(ref: string): string | undefined {
  if (ref.startsWith('refs/')) return undefined;
  if (ref === '**' || ref === '*') {
    return `"${ref}" is not a full ref; write "refs/heads/**" for every branch (refs are compared in full; add "refs/tags/v*" or "refs/pull/*/merge" only if tags or pull requests may deploy)`;
  }
  const full = /^(heads|tags|pull)\//.test(ref) ? `refs/${ref}` : `refs/heads/${ref}`;
  return `"${ref}" is not a full ref; write "${full}" (refs are compared in full)`;
}

/** The ref after a workflow's `@` is compared in full like `refs`: `deploy.yml@*` matches no job. */
function workflowRefAdvice(workflow: string): string | undefined {
  const at = workflow.lastIndexOf('@');
  const advice = at < 0 ? undefined : shortRefAdvice(workflow.slice(at + 1));
  const prefix = workflow.slice(0, at + 1);
  return advice?.replace(/; write "([^"]*)"/, (_, full: string) => `; write "${prefix}${full}"`);
}

type Raw = Record<string, unknown>;
const isObject = (value: unknown): value is Raw =>
  typeof value === 'object' && value !== null && !Array.isArray(value);
const strings = (value: unknown): [string, number][] =>
  Array.isArray(value)
    ? value.flatMap((v, i): [string, number][] => (typeof v === 'string' ? [[v, i]] : []))
    : [];

/**
 * The target most likely meant: a near spelling (`previews`, `Production`) or a name that is the
 * start of one (`prod`, `stag`), among the built-in targets and the project's custom environments.
 */
function meantTarget(target: string, known: readonly string[]): string | undefined {
  const lower = target.toLowerCase();
  const prefix = known.find((k) => lower.length >= 3 && (k.startsWith(lower) || lower.startsWith(k)));
  return prefix ?? closestMatch(target, known, 2);
}

/** A rule's `targets`: preview, production or one of the project's declared custom environments, nothing else. */
function lintTargets(
  targets: [string, number][],
  declared: readonly string[],
  at: IssuePath,
  found: Findings,
) {
  const known = [...BUILT_IN_TARGETS, ...declared];
  for (const [target, i] of targets) {
    if (known.includes(target)) continue;
    const meant = meantTarget(target, known);
    const declaredText =
      declared.length > 0 ? `it declares ${declared.join(', ')}` : 'this project declares none';
    found.errors.push({
      path: [...at, 'targets', i],
      message: meant
        ? `"${target}" is not a target; did you mean "${meant}"?`
        : `"${target}" is not a target: write preview, production or a custom environment listed in the project's custom_environments (${declaredText}); if "${target}" is a Vercel custom environment, add it there`,
    });
  }
}

/** `custom_environment_aliases` keys name declared custom environments, else the patterns would never apply. */
function lintCustomEnvironmentAliases(project: Raw, at: IssuePath, found: Findings) {
  const declared = strings(project.custom_environments).map(([name]) => name);
  if (!isObject(project.custom_environment_aliases)) return;
  for (const name of Object.keys(project.custom_environment_aliases)) {
    if (declared.includes(name)) continue;
    const meant = meantTarget(name, declared);
    found.errors.push({
      path: [...at, 'custom_environment_aliases', name],
      message: `"${name}" is not one of this project's custom_environments (${declared.length > 0 ? declared.join(', ') : 'none declared'})${meant ? `; did you mean "${meant}"?` : `; add it to custom_environments or remove these patterns`}`,
    });
  }
}

function lintRule(rule: Raw, at: IssuePath, found: Findings, declared: readonly string[]): void {
  const { errors, warnings } = found;
  const targets = strings(rule.targets);
  const workflows = strings(rule.workflows);
  lintTargets(targets, declared, at, found);
  if (targets.some(([t]) => t === 'production') && rule.environments === undefined) {
    errors.push({
      path: [...at, 'environments'],
      message:
        'a rule that allows production must name environments, e.g. environments: [production], so the GitHub environment protection rules (required reviewers, deployment branches) gate it',
    });
  }
  for (const [ref, i] of strings(rule.refs)) {
    const advice = patternAdvice(ref, 'refs') ?? shortRefAdvice(ref);
    if (advice) errors.push({ path: [...at, 'refs', i], message: advice });
    else if (ref === 'refs/**') {
      warnings.push({
        path: [...at, 'refs', i],
        message: `"refs/**" allows every branch, tag and pull request ref; write "refs/heads/**" if branches are meant`,
      });
    }
  }
  for (const [workflow, i] of workflows) {
    const advice = patternAdvice(workflow, 'workflows') ?? workflowRefAdvice(workflow);
    if (advice) errors.push({ path: [...at, 'workflows', i], message: advice });
  }
  const risky = strings(rule.events).filter(([e]) => (RISKY_EVENTS as readonly string[]).includes(e));
  const beyondPreview = targets.map(([t]) => t).filter((t) => t !== 'preview');
  if (risky.length > 0 && beyondPreview.length > 0) {
    errors.push({
      path: [...at, 'targets'],
      message: `${risky.map(([e]) => e).join(', ')} runs on input a pull request author controls (a fork's build output, a comment), so a rule allowing it may deploy to preview only; move ${beyondPreview.join(', ')} to a rule without these events`,
    });
  }
  for (const [event, i] of strings(rule.events)) {
    if ((GITHUB_EVENTS as readonly string[]).includes(event)) {
      if ((RISKY_EVENTS as readonly string[]).includes(event)) {
        warnings.push({
          path: [...at, 'events', i],
          message: `${event} runs with the base repository's identity on attacker-influenced input`,
        });
        // evaluate.ts refuses these events unless the rule pins the exact workflow file.
        if (rule.workflows === undefined || workflows.some(([w]) => w.includes('*'))) {
          warnings.push({
            path: [...at, 'workflows'],
            message: `${event} is allowed only by a rule that pins the exact workflow, e.g. workflows: ["${String(rule.repository)}/.github/workflows/preview-deploy.yml@refs/heads/main"]; until then this rule refuses ${event}`,
          });
        }
      }
      continue;
    }
    const meant = closestMatch(event, GITHUB_EVENTS);
    if (meant) {
      errors.push({
        path: [...at, 'events', i],
        message: `"${event}" is not a GitHub event; did you mean "${meant}"?`,
      });
    } else {
      warnings.push({
        path: [...at, 'events', i],
        message: `"${event}" is not a GitHub event Keyhole knows (e.g. push, pull_request, workflow_dispatch); this entry matches only if GitHub sends that event_name`,
      });
    }
  }
  if (typeof rule.repository === 'string' && (!rule.repository_id || !rule.repository_owner_id)) {
    warnings.push({
      path: at,
      message: `add repository_id and repository_owner_id (GitHub's immutable ids; docs/policy.md shows the gh api command that prints them); names like "${rule.repository}" can be re-registered after a rename or deletion`,
    });
  }
  if (rule.self_hosted_runners === true) {
    warnings.push({
      path: [...at, 'self_hosted_runners'],
      message: 'self-hosted runners may be shared or persistent',
    });
  }
  if (targets.some(([t]) => t === 'production') && rule.workflows === undefined) {
    warnings.push({
      path: [...at, 'workflows'],
      message:
        'pin the workflow file that may deploy to production, e.g. workflows: ["owner/repo/.github/workflows/deploy.yml@refs/heads/main"]',
    });
  }
}

/** Checks every rule of every project in the raw (possibly schema-invalid) document. */
export function lintPolicy(raw: unknown): Findings {
  const found: Findings = { errors: [], warnings: [] };
  const projects = isObject(raw) ? raw.projects : undefined;
  if (!isObject(projects)) return found;
  for (const [name, project] of Object.entries(projects)) {
    if (!isObject(project)) continue;
    lintCustomEnvironmentAliases(project, ['projects', name], found);
    if (!Array.isArray(project.allow)) continue;
    const declared = strings(project.custom_environments).map(([environment]) => environment);
    project.allow.forEach((rule, i) => {
      if (isObject(rule)) lintRule(rule, ['projects', name, 'allow', i], found, declared);
    });
  }
  return found;
}
