/**
 * The runner's workflow commands, written byte for byte as @actions/core writes them: stdout
 * commands (`::name key=value::data`, escaped), file commands (GITHUB_OUTPUT, GITHUB_STATE,
 * GITHUB_ENV: `name<<delimiter` with a random delimiter), inputs, state, the job summary.
 *
 * Why not @actions/core itself at start: its OIDC client imports @actions/http-client and, with it,
 * a second undici (about 900 KB of source, Node's fetch being the first), which every run compiled
 * and evaluated before its first step, competing with the token request for the runner's cores.
 * @actions/core is still what asks for an OIDC token when the early request (early-token.ts) gave
 * none, loaded then (start.ts). `__tests__/action/commands.test.ts` runs every call here and its
 * @actions/core twin on the same values and requires the same bytes on stdout and in each file.
 */
import { randomUUID } from 'node:crypto';
import { EOL } from 'node:os';
import { inputFromEnv } from './early-token.js';
import { appendRunnerFile, runnerFileExists } from './safe-fs.js';
import type { ActionCore } from './step.js';

type FileCommand = 'OUTPUT' | 'STATE' | 'ENV';

const escapeData = (text: string) => text.replace(/%/g, '%25').replace(/\r/g, '%0D').replace(/\n/g, '%0A');
const escapeProperty = (text: string) => escapeData(text).replace(/:/g, '%3A').replace(/,/g, '%2C');

/** `::command key=value,…::message`, one line on stdout. */
function issue(command: string, message = '', properties: Record<string, string> = {}): void {
  const props = Object.entries(properties)
    .filter(([, value]) => value)
    .map(([key, value]) => `${key}=${escapeProperty(value)}`)
    .join(',');
  process.stdout.write(`::${command}${props ? ` ${props}` : ''}::${escapeData(message)}${EOL}`);
}

/**
 * `name<<delimiter`, the value, the delimiter, appended to the runner's file for `command`; false
 * when the runner names no file (an old runner: the stdout command instead).
 */
function fileCommand(command: FileCommand, name: string, value: string): boolean {
  const file = process.env[`GITHUB_${command}`];
  if (!file) return false;
  if (!runnerFileExists(file)) throw new Error(`Missing file at path: ${file}`);
  const delimiter = `ghadelimiter_${randomUUID()}`;
  if (name.includes(delimiter))
    throw new Error(`Unexpected input: name should not contain the delimiter "${delimiter}"`);
  if (value.includes(delimiter))
    throw new Error(`Unexpected input: value should not contain the delimiter "${delimiter}"`);
  appendRunnerFile(file, `${name}<<${delimiter}${EOL}${value}${EOL}${delimiter}${EOL}`);
  return true;
}

/** Everything of ActionCore but `relay` and `getIDToken`, which start.ts adds. */
export type RunnerCommands = Omit<ActionCore, 'relay' | 'getIDToken'> & {
  getState(name: string): string;
  error(message: string): void;
};

export const commands: RunnerCommands = {
  getInput: (name) => inputFromEnv(process.env)(name),
  getState: (name) => process.env[`STATE_${name}`] || '',
  setOutput(name, value) {
    if (fileCommand('OUTPUT', name, value)) return;
    process.stdout.write(EOL);
    issue('set-output', value, { name });
  },
  saveState(name, value) {
    if (!fileCommand('STATE', name, value)) issue('save-state', value, { name });
  },
  exportVariable(name, value) {
    process.env[name] = value;
    if (!fileCommand('ENV', name, value)) issue('set-env', value, { name });
  },
  setSecret: (secret) => issue('add-mask', secret),
  info: (message) => void process.stdout.write(message + EOL),
  warning: (message) => issue('warning', message),
  error: (message) => issue('error', message),
  setFailed(message) {
    process.exitCode = 1;
    issue('error', message);
  },
  startGroup: (name) => issue('group', name),
  endGroup: () => issue('endgroup'),
  /** `core.summary.addRaw(markdown).write()`: appended to the step's summary file, which must exist. */
  async writeSummary(markdown) {
    const file = process.env.GITHUB_STEP_SUMMARY;
    if (!file) return;
    const refused = `Unable to access summary file: '${file}'. Check if the file has correct read/write permissions.`;
    if (!runnerFileExists(file)) throw new Error(refused);
    try {
      appendRunnerFile(file, markdown);
    } catch {
      throw new Error(refused);
    }
  },
};
