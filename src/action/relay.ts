/**
 * The one door for text the action did not write itself — Vercel build-log lines, Vercel's and the
 * broker's error texts, a (fork's) artifact's messages, anything fetched — on its way into the job
 * log, an annotation, the job summary or the pull-request comment: there it is shown, never run by
 * the runner as a workflow command and never rendered as markdown (docs/threat-model.md, "Build logs
 * and artifacts are the attacker's"). New features that print fetched text use these functions.
 *
 * How the runner reads a step's output (actions/runner, /tmp research for issue 24): stdout and
 * stderr, line by line, lines split at `\n` and `\r`; `::cmd::` counts after .NET `TrimStart()`
 * (which also strips U+0085, U+00A0, U+2000–U+200A, U+2028/9, U+3000…); the legacy `##[cmd]` counts
 * anywhere in a line; `set-output` and `save-state` still act; `::stop-commands::TOKEN` silences all
 * commands until `::TOKEN::` or `##[TOKEN]` (case-insensitive).
 */
import { randomBytes } from 'node:crypto';

/** Everything .NET's `Char.IsWhiteSpace` accepts, and the zero-width characters for good measure. */
const LEADING_SPACE = /^[\s\u0085\u180E\u200B-\u200D\u2060\uFEFF]*/;
/** The runner's line breaks: a relayed `\r` starts a line as much as `\n` does. */
const LINE_BREAK = /\r\n|\r|\n/;
/** Shown before a relayed line that would otherwise read as a command: visible, and not whitespace. */
export const COMMAND_GUARD = '| ';

/**
 * One relayed line made inert: the legacy `##[` broken wherever it is, and a line that would start
 * with `::` after the runner's trimming shown behind a visible guard.
 */
function inertLine(line: string): string {
  const broken = line.replace(/##\[/g, '##\u200B[');
  return broken.replace(LEADING_SPACE, '').startsWith('::') ? `${COMMAND_GUARD}${broken}` : broken;
}

/**
 * Text for the job log (`core.info`) that no runner will take as a command: every line, as the
 * runner splits them, made inert. The action's own commands never go through here.
 */
export function inertText(text: string): string {
  return text.split(LINE_BREAK).map(inertLine).join('\n');
}

/** Longest annotation message kept: a build's error output can be megabytes. */
export const MAX_ANNOTATION_CHARS = 4000;

/**
 * The message of an `::error`/`::warning` annotation (`core.setFailed`, `core.warning`): @actions/core
 * escapes `%`, `\r` and `\n` (%25 %0D %0A) so it stays one data field; here it is capped and a
 * legacy `##[` in it broken as well.
 */
export function annotationText(text: string): string {
  const capped =
    text.length > MAX_ANNOTATION_CHARS ? `${text.slice(0, MAX_ANNOTATION_CHARS)}… (truncated)` : text;
  return capped.replace(/##\[/g, '##\u200B[');
}

/**
 * A writer that relays blocks of foreign lines (a build log) between `::stop-commands::<token>` and
 * its resume, the token 32 random bytes per run: nothing inside is a command even to a runner that
 * parsed a line differently, and each line is made inert as well. Secrets must be registered
 * (`add-mask`) before the first block: an injected stop would otherwise hide a later `add-mask`.
 * `write` prints one line raw (`core.info` of @actions/core).
 */
export function createRelay(write: (line: string) => void): (lines: readonly string[]) => void {
  const token = randomBytes(32).toString('hex');
  return (lines) => {
    if (lines.length === 0) return;
    write(`::stop-commands::${token}`);
    try {
      for (const line of lines) write(inertText(line));
    } finally {
      write(`::${token}::`);
    }
  };
}

// Markdown: the job summary and the pull-request comment.

/** Longest relayed text quoted into markdown: the comment's limit is 65,536 characters in all. */
export const MAX_QUOTED_CHARS = 8000;

/**
 * Text that renders as nothing but itself even outside code: mentions (`@\u200Bname`), HTML and
 * comments (`<\u200B`: no tag, no `<!--` marker), and links and images (`]\u200B(`, `:\u200B//`).
 */
export function inertMarkdownText(text: string): string {
  return text
    .replace(/@/g, '@\u200B')
    .replace(/</g, '<\u200B')
    .replace(/\]\(/g, ']\u200B(')
    .replace(/:\/\//g, ':\u200B//');
}

/**
 * Foreign text as a fenced code block: capped, made inert, behind a fence longer than any backtick
 * run in it, so it cannot close the block and be read as markdown.
 */
export function quoteBlock(text: string, maxChars = MAX_QUOTED_CHARS): string {
  const capped = text.length > maxChars ? `${text.slice(0, maxChars)}\n… (truncated)` : text;
  const body = inertMarkdownText(capped.replace(/\r\n?/g, '\n'));
  const longestRun = Math.max(0, ...(body.match(/`+/g) ?? []).map((run) => run.length));
  const fence = '`'.repeat(Math.max(3, longestRun + 1));
  return `${fence}text\n${body}\n${fence}`;
}

/** Foreign text on one line, as inline code (its backticks cannot end the span). */
export function quoteInline(text: string, maxChars = 200): string {
  const capped = text.length > maxChars ? `${text.slice(0, maxChars)}…` : text;
  const body = inertMarkdownText(capped.replace(/[\r\n]+/g, ' '));
  const longestRun = Math.max(0, ...(body.match(/`+/g) ?? []).map((run) => run.length));
  const fence = '`'.repeat(longestRun + 1);
  // A space pads only a body that begins or ends with a backtick (CommonMark strips one each side).
  const padded = /^`|`$/.test(body) ? ` ${body} ` : body;
  return `${fence}${padded}${fence}`;
}

/** A URL plain enough to render as a link: scheme, host, port and a path of safe characters only. */
const PLAIN_URL = /^https?:\/\/[A-Za-z0-9.-]+(?::\d{1,5})?(?:\/[A-Za-z0-9._~%/-]*)?$/;

/**
 * A link when the URL (from Vercel or the broker) is plain, else inert inline code. `label` is the
 * action's own text; without one the URL is its own label.
 */
export function markdownLink(url: string, label?: string): string {
  return PLAIN_URL.test(url) ? `[${label ?? url}](${url})` : quoteInline(url);
}
