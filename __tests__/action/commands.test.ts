/**
 * The action's workflow commands (src/action/commands.ts) against @actions/core's: every call run
 * by both on the same values, with and without the runner's command files, must leave the same
 * bytes on stdout and in each file (file commands' random delimiters aside), the same exit code,
 * the same process.env and the same inputs and state read back.
 */
import * as core from '@actions/core';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { commands } from '../../src/action/commands.js';

const HOSTILE = 'a%25b\r\nc::d,e:f%0A\n::error::x';
const VALUES = ['plain', '', HOSTILE, 'line one\nline two\n', 'ünïcode → ✓'];

type Call = [string, (impl: typeof commands | typeof core) => unknown];
const calls: Call[] = [
  ...VALUES.flatMap((v): Call[] => [
    [`info ${JSON.stringify(v)}`, (impl) => impl.info(v)],
    [`warning ${JSON.stringify(v)}`, (impl) => impl.warning(v)],
    [`error ${JSON.stringify(v)}`, (impl) => impl.error(v)],
    [`setFailed ${JSON.stringify(v)}`, (impl) => impl.setFailed(v)],
    [`setSecret ${JSON.stringify(v)}`, (impl) => impl.setSecret(v)],
    [`startGroup ${JSON.stringify(v)}`, (impl) => impl.startGroup(v)],
    [`setOutput ${JSON.stringify(v)}`, (impl) => impl.setOutput('deployment-url', v)],
    [`saveState ${JSON.stringify(v)}`, (impl) => impl.saveState('credential', v)],
    [`exportVariable ${JSON.stringify(v)}`, (impl) => impl.exportVariable('KEYHOLE_TEST_VAR', v)],
  ]),
  ['endGroup', (impl) => impl.endGroup()],
  ['setOutput with a name to escape', (impl) => impl.setOutput('a:b,c%d', 'v')],
];

let dir: string;
beforeEach(() => {
  dir = mkdtempSync(path.join(tmpdir(), 'keyhole-commands-'));
});
afterEach(() => {
  rmSync(dir, { recursive: true, force: true });
  process.exitCode = undefined;
  delete process.env.KEYHOLE_TEST_VAR;
});

/** What one call leaves behind: stdout, each command file (delimiters made equal), exit code, env. */
function outcome(call: () => unknown, withFiles: boolean) {
  const files = { OUTPUT: 'output', STATE: 'state', ENV: 'env' } as const;
  const saved = { ...process.env };
  for (const [name, file] of Object.entries(files)) {
    if (withFiles) {
      writeFileSync(path.join(dir, file), '');
      process.env[`GITHUB_${name}`] = path.join(dir, file);
    } else delete process.env[`GITHUB_${name}`];
  }
  let stdout = '';
  const write = process.stdout.write;
  process.stdout.write = ((chunk: string | Uint8Array) => {
    stdout += String(chunk);
    return true;
  }) as typeof process.stdout.write;
  process.exitCode = undefined;
  try {
    call();
  } finally {
    process.stdout.write = write;
  }
  const written = Object.fromEntries(
    Object.values(files).map((file) => [
      file,
      withFiles
        ? readFileSync(path.join(dir, file), 'utf8').replace(/ghadelimiter_[0-9a-f-]{36}/g, 'DELIMITER')
        : '',
    ]),
  );
  const result = { stdout, written, exitCode: process.exitCode, env: process.env.KEYHOLE_TEST_VAR };
  process.env = saved;
  return result;
}

describe.each([true, false])('with the runner’s command files: %s', (withFiles) => {
  test.each(calls)('%s writes what @actions/core writes', (_, call) => {
    const ours = outcome(() => call(commands), withFiles);
    const theirs = outcome(() => call(core), withFiles);
    expect(ours).toEqual(theirs);
    // Not vacuous: every call leaves something behind.
    expect(ours.stdout + Object.values(ours.written).join('')).not.toBe('');
  });
});

test('inputs and state read back as @actions/core reads them', () => {
  process.env.INPUT_VERCEL_PROJECT = '  marketing-site \n';
  process.env['INPUT_TIMEOUT-MINUTES'] = '';
  process.env.STATE_credential = 'cred_abc';
  try {
    for (const name of ['vercel project', 'VERCEL_PROJECT', 'timeout-minutes', 'absent'])
      expect(commands.getInput(name)).toBe(core.getInput(name));
    expect(commands.getInput('vercel project')).toBe('marketing-site');
    for (const name of ['credential', 'absent']) expect(commands.getState(name)).toBe(core.getState(name));
  } finally {
    delete process.env.INPUT_VERCEL_PROJECT;
    delete process.env['INPUT_TIMEOUT-MINUTES'];
    delete process.env.STATE_credential;
  }
});

test('the job summary is appended as core.summary appends it, and a missing file is refused with its message, not created', async () => {
  const file = path.join(dir, 'summary.md');
  writeFileSync(file, '# before\n');
  process.env.GITHUB_STEP_SUMMARY = file;
  try {
    await commands.writeSummary('ours\n');
    await core.summary.addRaw('theirs\n').write();
    expect(readFileSync(file, 'utf8')).toBe('# before\nours\ntheirs\n');
    // @actions/core keeps the path it first resolved, so its refusal is read from its source:
    // "Unable to access summary file: '<path>'. Check if the file has correct read/write permissions."
    const absent = path.join(dir, 'absent.md');
    process.env.GITHUB_STEP_SUMMARY = absent;
    await expect(commands.writeSummary('x')).rejects.toThrow(
      `Unable to access summary file: '${absent}'. Check if the file has correct read/write permissions.`,
    );
    expect(existsSync(absent)).toBe(false);
  } finally {
    delete process.env.GITHUB_STEP_SUMMARY;
  }
});
