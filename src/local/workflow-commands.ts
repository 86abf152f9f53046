/**
 * How the GitHub Actions runner finds workflow commands in a step's output, emulated for tests:
 * which lines of the action's stdout and stderr the runner would act on (actions/runner
 * ActionCommandManager and ActionCommand, summarised in docs/threat-model.md).
 *
 * - both streams are read line by line; `\r\n`, `\n` and `\r` all end a line;
 * - `::name props::data` counts after .NET `String.TrimStart()` (every `Char.IsWhiteSpace`
 *   character, U+0085 included, which JavaScript's `trimStart` keeps);
 * - the legacy `##[name props]data` counts anywhere in a line (tried when the `::` form is not one);
 * - command names match case-insensitively; an unknown name is no command;
 * - `::stop-commands::TOKEN` ignores every command until one whose name is TOKEN (`::TOKEN::` or
 *   `##[TOKEN]`, any case) resumes them.
 */

export interface WorkflowCommand {
  stream: 'stdout' | 'stderr';
  /** Lower-cased command name (the stop token for a resume). */
  command: string;
  properties: Record<string, string>;
  data: string;
  /** The line as the runner read it. */
  line: string;
}

/** The commands the runner registers (actions/runner, ActionCommandManager extensions). */
export const RUNNER_COMMANDS = [
  'set-env',
  'set-output',
  'save-state',
  'add-path',
  'add-mask',
  'echo',
  'debug',
  'notice',
  'warning',
  'error',
  'group',
  'endgroup',
  'stop-commands',
  'add-matcher',
  'remove-matcher',
] as const;

/** .NET `Char.IsWhiteSpace`: what `TrimStart()` removes. */
const DOTNET_LEADING_WHITESPACE = new RegExp(
  '^[\\t\\n\\v\\f\\r \\u0085\\u00A0\\u1680\\u2000-\\u200A\\u2028\\u2029\\u202F\\u205F\\u3000]+',
);

const unescapeData = (s: string) => s.replace(/%0D/gi, '\r').replace(/%0A/gi, '\n').replace(/%25/gi, '%');
const unescapeProperty = (s: string) =>
  s
    .replace(/%0D/gi, '\r')
    .replace(/%0A/gi, '\n')
    .replace(/%3A/gi, ':')
    .replace(/%2C/gi, ',')
    .replace(/%25/gi, '%');

function properties(text: string, separator: string, unescape: (s: string) => string) {
  const result: Record<string, string> = {};
  for (const pair of text.split(separator)) {
    const equals = pair.indexOf('=');
    if (equals > 0) result[pair.slice(0, equals)] = unescape(pair.slice(equals + 1));
  }
  return result;
}

type Parsed = Omit<WorkflowCommand, 'stream' | 'line'>;

function parseV2(line: string, known: Set<string>): Parsed | undefined {
  const message = line.replace(DOTNET_LEADING_WHITESPACE, '');
  if (!message.startsWith('::')) return undefined;
  const end = message.indexOf('::', 2);
  if (end < 0) return undefined;
  const info = message.slice(2, end);
  const space = info.indexOf(' ');
  const command = (space < 0 ? info : info.slice(0, space)).toLowerCase();
  if (!known.has(command)) return undefined;
  return {
    command,
    properties: space < 0 ? {} : properties(info.slice(space + 1), ',', unescapeProperty),
    data: unescapeData(message.slice(end + 2)),
  };
}

function parseLegacy(line: string, known: Set<string>): Parsed | undefined {
  const start = line.indexOf('##[');
  if (start < 0) return undefined;
  const close = line.indexOf(']', start);
  if (close < 0) return undefined;
  const info = line.slice(start + 3, close);
  const space = info.indexOf(' ');
  const command = (space < 0 ? info : info.slice(0, space)).toLowerCase();
  if (!known.has(command)) return undefined;
  return {
    command,
    properties: space < 0 ? {} : properties(info.slice(space + 1), ';', unescapeProperty),
    data: unescapeData(line.slice(close + 1)),
  };
}

/**
 * Every command the runner would act on, in order, for a step that printed `stdout` and `stderr`
 * (each stream read on its own, as the runner's two readers do; stop-commands state is the step's).
 * `honourStopCommands: false` plays a runner that ignored stop-commands: what per-line neutralising
 * alone must withstand.
 */
export function runnerCommands(
  output: { stdout: string; stderr?: string },
  { honourStopCommands = true } = {},
): WorkflowCommand[] {
  const found: WorkflowCommand[] = [];
  let stopToken: string | undefined;
  for (const stream of ['stdout', 'stderr'] as const) {
    for (const line of (output[stream] ?? '').split(/\r\n|\n|\r/)) {
      const known = new Set<string>(RUNNER_COMMANDS);
      if (stopToken) known.add(stopToken);
      const parsed = parseV2(line, known) ?? parseLegacy(line, known);
      if (!parsed) continue;
      if (stopToken && honourStopCommands) {
        if (parsed.command !== stopToken) continue;
        stopToken = undefined;
        found.push({ ...parsed, stream, line });
        continue;
      }
      if (parsed.command === 'stop-commands' && honourStopCommands) stopToken = parsed.data.toLowerCase();
      found.push({ ...parsed, stream, line });
    }
  }
  return found;
}
