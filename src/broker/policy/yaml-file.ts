/**
 * Reads a YAML file for people: every key's line and column, duplicate keys named with both
 * places, and schema issues turned into what to write instead of the library's own texts.
 */
import { isMap, isScalar, isSeq, LineCounter, parseDocument, type Document } from 'yaml';
import type { z } from 'zod';

export type IssuePath = readonly (string | number)[];

export interface Finding {
  path: IssuePath;
  message: string;
  /** Where to point in the file when `path` itself is absent (a missing key's sibling). */
  near?: IssuePath;
}

function editDistance(a: string, b: string): number {
  const row = Array.from({ length: b.length + 1 }, (_, i) => i);
  for (let i = 1; i <= a.length; i++) {
    let previous = row[0]!;
    row[0] = i;
    for (let j = 1; j <= b.length; j++) {
      const current = row[j]!;
      row[j] = Math.min(row[j]! + 1, row[j - 1]! + 1, previous + (a[i - 1] === b[j - 1] ? 0 : 1));
      previous = current;
    }
  }
  return row[b.length]!;
}

/**
 * The closest candidate, when it is close enough to be a typo. Case, `-` versus `_` and spaces
 * are folded first, so `Production` and `pull-request` find their value at distance 0.
 */
export function closestMatch(
  value: string,
  candidates: readonly string[],
  maxDistance = 3,
): string | undefined {
  const fold = (s: string) => s.toLowerCase().replace(/[-\s]/g, '_');
  const scored = candidates
    .map((candidate) => ({ candidate, d: editDistance(fold(value), fold(candidate)) }))
    .sort((x, y) => x.d - y.d);
  const best = scored[0];
  return best && best.d <= Math.min(maxDistance, Math.floor(best.candidate.length / 2))
    ? best.candidate
    : undefined;
}

export interface ConfigIssue {
  /** Where in the document, e.g. `projects.site.allow[0].refs[1]`; empty for the whole file. */
  path: string;
  message: string;
  /** 1-based position of the key or value in the file, when the path exists there. */
  line?: number;
  column?: number;
}

/** One compiler-style line: `broker.yaml:12:9: error: projects.site.allow[0].refs[0]: …`. */
export function formatIssue(file: string, issue: ConfigIssue, severity: 'error' | 'warning'): string {
  const where = issue.line ? `${file}:${issue.line}:${issue.column ?? 1}` : file;
  return `${where}: ${severity}: ${issue.path ? `${issue.path}: ` : ''}${issue.message}`;
}

const plural = (n: number, word: string) => `${n} ${word}${n === 1 ? '' : 's'}`;

export class ConfigError extends Error {
  readonly issues: readonly ConfigIssue[];
  readonly warnings: readonly ConfigIssue[];
  constructor(file: string, issues: ConfigIssue[], warnings: ConfigIssue[] = []) {
    super(
      [
        `${file}: ${plural(issues.length, 'error')}${warnings.length ? `, ${plural(warnings.length, 'warning')}` : ''}`,
        ...issues.map((i) => formatIssue(file, i, 'error')),
        ...warnings.map((w) => formatIssue(file, w, 'warning')),
      ].join('\n'),
    );
    this.name = 'ConfigError';
    this.issues = issues;
    this.warnings = warnings;
  }
}

export function formatPath(path: readonly PropertyKey[]): string {
  return path
    .map((p) => (typeof p === 'number' ? `[${p}]` : `.${String(p)}`))
    .join('')
    .replace(/^\./, '');
}
/** Every key and sequence item of the document with its offset, in document order. */
interface Located {
  path: string;
  offset: number;
}

function locateAll(doc: Document): Located[] {
  const out: Located[] = [];
  const walk = (node: unknown, path: (string | number)[]) => {
    if (isMap(node)) {
      for (const pair of node.items) {
        const key = isScalar(pair.key) ? String(pair.key.value) : String(pair.key);
        const at = [...path, key];
        const range = (pair.key as { range?: [number, number, number] } | null)?.range;
        if (range) out.push({ path: formatPath(at), offset: range[0] });
        walk(pair.value, at);
      }
    } else if (isSeq(node)) {
      node.items.forEach((item, i) => {
        const at = [...path, i];
        const range = (item as { range?: [number, number, number] } | null)?.range;
        if (range) out.push({ path: formatPath(at), offset: range[0] });
        walk(item, at);
      });
    }
  };
  walk(doc.contents, []);
  return out;
}

/** YAML's own complaints, with the fix for the common ones. */
const YAML_HINTS: Record<string, string> = {
  TAB_AS_INDENT: 'indent with spaces',
  DUPLICATE_KEY: 'keep one',
  BAD_INDENT: 'check the indentation of this line against its siblings',
  MISSING_CHAR: 'check for a missing quote, bracket or "-"',
  BLOCK_AS_IMPLICIT_KEY: 'put the nested mapping on its own indented line, or quote a value that holds ": "',
  MULTILINE_IMPLICIT_KEY: 'a key must fit on one line; check for a missing ":" or quote',
};

/** Leading spaces plus any "- " item markers: the column a line's key starts at. */
const keyColumn = (line: string) => /^( *(?:- +)*)/.exec(line)![1]!.length;
const KEY_LINE = /^ *(?:- +)*([\w.-]+):( |$)/;

/**
 * A key indented deeper than the key-with-a-value above it: YAML reads it as more of that value or
 * as a misplaced mapping, and its own error points at the line above; this names the line to fix.
 */
function findOverIndentedKey(text: string, located: Located[], lines: LineCounter): ConfigIssue | undefined {
  const rows = text.split('\n');
  let previous: { index: number; row: string } | undefined;
  for (const [index, row] of rows.entries()) {
    if (/^\s*(#|$)/.test(row)) continue;
    const key = KEY_LINE.exec(row)?.[1];
    const above = previous && /^ *(?:- +)*([\w.-]+): +([^\s|>#[{&*!]\S*)/.exec(previous.row);
    if (key && previous && above && keyColumn(row) > keyColumn(previous.row)) {
      const sibling = located.find(
        (l) => lines.linePos(l.offset).line === previous!.index + 1 && l.path.endsWith(above[1]!),
      );
      const path = sibling ? sibling.path.replace(/[^.]+$/, key) : key;
      return {
        path,
        message: `"${key}" is indented more than its siblings; align it with "${above[1]}" on line ${previous.index + 1} (column ${keyColumn(previous.row) + 1})`,
        line: index + 1,
        column: keyColumn(row) + 1,
      };
    }
    previous = { index, row };
  }
  return undefined;
}

function yamlIssues(text: string, doc: Document, located: Located[], lines: LineCounter): ConfigIssue[] {
  const at = (offset: number) => {
    const { line, col } = lines.linePos(offset);
    return { line, column: col };
  };
  const issues: ConfigIssue[] = [];
  // Duplicate keys are found here rather than by the parser, so the message can name both places.
  const seen = new Map<string, number>();
  // The keys inside a duplicated block repeat the first block's paths: one error for the block, not one per key.
  let duplicated: string | undefined;
  for (const entry of located) {
    if (duplicated && /^[.[]/.test(entry.path.slice(duplicated.length)) && entry.path.startsWith(duplicated))
      continue;
    const first = seen.get(entry.path);
    if (first === undefined) {
      seen.set(entry.path, entry.offset);
      continue;
    }
    duplicated = entry.path;
    const firstAt = at(first);
    const project = /^projects\.([^.[]+)$/.exec(entry.path)?.[1];
    issues.push({
      path: entry.path,
      message: project
        ? `duplicate project ${project}, first at ${firstAt.line}:${firstAt.column}; keep one (rename one of them if both are meant), the parser would silently use the last`
        : `duplicate key "${entry.path.replace(/^.*\./, '')}" (first at line ${firstAt.line}:${firstAt.column}); keep one, the parser would silently use the last`,
      ...at(entry.offset),
    });
  }
  // Only the first syntax error: the parser's later complaints are mostly echoes of it.
  const error = doc.errors[0];
  const overIndented =
    error && error.code !== 'TAB_AS_INDENT' ? findOverIndentedKey(text, located, lines) : undefined;
  if (overIndented) issues.push(overIndented);
  else if (error) {
    const offset = error.pos[0];
    const near = located.filter((l) => l.offset <= offset).at(-1);
    const hint = YAML_HINTS[error.code];
    issues.push({
      path: near?.path ?? '',
      message: `YAML syntax: ${error.message.split('\n')[0]}${hint ? `; ${hint}` : ''}`,
      ...at(offset),
    });
  }
  return issues.sort((a, b) => (a.line ?? 0) - (b.line ?? 0));
}

function valueAt(root: unknown, path: readonly PropertyKey[]): unknown {
  return path.reduce<unknown>(
    (node, key) =>
      node && typeof node === 'object' ? (node as Record<PropertyKey, unknown>)[key] : undefined,
    root,
  );
}

function typeName(value: unknown): string {
  if (value === null) return 'nothing';
  if (Array.isArray(value)) return 'a list';
  if (typeof value === 'object') return 'a mapping';
  if (typeof value === 'string') return `the text "${value}"`;
  return `${typeof value} ${String(value)}`;
}

/** What to write, for a value of the wrong type: zod's own texts name types, not fixes. */
function describeType(expected: string, value: unknown): string {
  const got = `got ${typeName(value)}`;
  if (expected === 'number' || expected === 'int') {
    if (typeof value === 'string' && /^-?[0-9]+$/.test(value.trim()))
      return `must be a number, not text; write ${value.trim()} without quotes`;
    if (typeof value === 'number') return `must be a whole number (${got})`;
    return `must be a whole number, e.g. 60 (${got})`;
  }
  if (expected === 'boolean') return `must be true or false (${got})`;
  if (expected === 'string') {
    if (typeof value === 'number' || typeof value === 'boolean')
      return `must be text; quote it: "${String(value)}"`;
    return `must be text (${got})`;
  }
  if (expected === 'array') {
    if (typeof value === 'string' || typeof value === 'number')
      return `must be a list; write [${String(value)}]`;
    return `must be a list, e.g. [preview] (${got})`;
  }
  if (expected === 'object' || expected === 'record')
    return `must be a mapping of keys, one "key: value" per line (${got})`;
  return `must be ${expected} (${got})`;
}

/** Zod's default texts start like this; a message written in the schema is kept as it is. */
const LIBRARY_TEXT = /^(Invalid|Too (big|small)|Expected|Unrecognized)/;

/**
 * A zod issue as findings that say what to write; `knownKeysAt` lists the keys allowed at a path,
 * for "did you mean" on unknown keys.
 */
export function describeIssue(
  issue: z.core.$ZodIssue,
  raw: unknown,
  knownKeysAt: (path: readonly PropertyKey[]) => string[],
): Finding[] {
  const path = issue.path as (string | number)[];
  const value = valueAt(raw, path);
  if (issue.code === 'unrecognized_keys') {
    return issue.keys.map((key) => {
      const known = knownKeysAt(path);
      const best = closestMatch(key, known);
      const hint = best ? `did you mean "${best}"?` : `known keys here: ${known.join(', ')}`;
      return { path: [...path, key], message: `unknown key; ${hint}` };
    });
  }
  if (issue.code === 'invalid_key') {
    const inner = issue.issues[0]?.message;
    return [{ path, message: inner && !LIBRARY_TEXT.test(inner) ? inner : 'is not an allowed name here' }];
  }
  if (issue.code === 'invalid_type' && value === undefined) return [{ path, message: 'is required' }];
  if (!LIBRARY_TEXT.test(issue.message)) return [{ path, message: issue.message }];
  switch (issue.code) {
    case 'invalid_type':
      return [{ path, message: describeType(issue.expected, value) }];
    case 'too_big': {
      const limit = Number(issue.maximum) - (issue.inclusive === false ? 1 : 0);
      const unit = issue.origin === 'string' ? ' characters' : issue.origin === 'array' ? ' entries' : '';
      const got = Array.isArray(value) ? value.length : typeof value === 'string' ? value.length : value;
      return [{ path, message: `must be at most ${limit}${unit} (got ${String(got)})` }];
    }
    case 'too_small': {
      if (issue.origin === 'array') return [{ path, message: 'must list at least one entry' }];
      if (issue.origin === 'string') return [{ path, message: 'must not be empty' }];
      const limit = Number(issue.minimum) + (issue.inclusive === false ? 1 : 0);
      return [{ path, message: `must be at least ${limit} (got ${String(value)})` }];
    }
    case 'invalid_value': {
      const allowed = issue.values.map(String);
      const best = typeof value === 'string' ? closestMatch(value, allowed) : undefined;
      return [
        { path, message: `must be one of ${allowed.join(', ')}${best ? `; did you mean "${best}"?` : ''}` },
      ];
    }
    default:
      return [{ path, message: `has a value this key does not accept (${typeName(value)})` }];
  }
}

export interface YamlSource {
  /** The document as plain data (no YAML errors: those are thrown). */
  raw: unknown;
  /** A finding with its place in the file: the deepest part of its path that exists there. */
  place(finding: Finding): ConfigIssue;
}

/** Parses YAML text; throws ConfigError for syntax errors and duplicate keys, which no schema can see past. */
export function readYaml(text: string, file: string): YamlSource {
  const lines = new LineCounter();
  const doc = parseDocument(text, { uniqueKeys: false, prettyErrors: false, lineCounter: lines });
  const located = locateAll(doc);
  const yamlErrors = yamlIssues(text, doc, located, lines);
  if (yamlErrors.length > 0) throw new ConfigError(file, yamlErrors);
  const offsets = new Map(located.map((l) => [l.path, l.offset]));
  const place = (finding: Finding): ConfigIssue => {
    const issue: ConfigIssue = { path: formatPath(finding.path), message: finding.message };
    const path = offsets.has(issue.path) ? finding.path : (finding.near ?? finding.path);
    for (let n = path.length; n > 0; n--) {
      const offset = offsets.get(formatPath(path.slice(0, n)));
      if (offset === undefined) continue;
      const { line, col } = lines.linePos(offset);
      return { ...issue, line, column: col };
    }
    return issue;
  };
  return { raw: doc.toJS() ?? {}, place };
}

export const byLine = (a: ConfigIssue, b: ConfigIssue) => (a.line ?? Infinity) - (b.line ?? Infinity);
