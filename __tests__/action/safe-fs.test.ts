/** The action's filesystem primitives (safe-fs.ts), and that no other action module touches node:fs. */
import { execFileSync } from 'node:child_process';
import {
  lstatSync,
  mkdirSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  rmSync,
  symlinkSync,
  writeFileSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { isGitName, readFileInside, resolveDirectory, writeFileInside } from '../../src/action/safe-fs.js';

let dir: string;
beforeEach(() => {
  dir = mkdtempSync(path.join(tmpdir(), 'keyhole-safe-fs-'));
});
afterEach(() => rmSync(dir, { recursive: true, force: true }));

test('only safe-fs.ts imports node:fs in the action', () => {
  const actionDir = path.join(import.meta.dirname, '..', '..', 'src', 'action');
  const importers = readdirSync(actionDir).filter(
    (name) =>
      name !== 'safe-fs.ts' &&
      /from 'node:fs(\/promises)?'/.test(readFileSync(path.join(actionDir, name), 'utf8')),
  );
  expect(importers).toEqual([]);
});

test.each([
  ['.git', true],
  ['.GIT', true],
  ['.Git', true],
  ['.git.', true],
  ['.git ', true],
  ['GIT~1', true],
  ['.github', false],
  ['git', false],
  ['.gitignore', false],
])('isGitName(%j) is %s', (name, expected) => expect(isGitName(name)).toBe(expected));

test('readFileInside reads a small regular file and refuses links, FIFOs, big files and .git', () => {
  writeFileSync(path.join(dir, 'ok'), 'fine');
  expect(readFileInside(dir, 'ok', { maxBytes: 10 })?.toString()).toBe('fine');
  expect(readFileInside(dir, 'absent', { maxBytes: 10 })).toBeUndefined();
  symlinkSync('ok', path.join(dir, 'link'));
  expect(() => readFileInside(dir, 'link', { maxBytes: 10 })).toThrow(/link is a symbolic link/);
  execFileSync('mkfifo', [path.join(dir, 'fifo')]);
  expect(() => readFileInside(dir, 'fifo', { maxBytes: 10 })).toThrow(/fifo is a FIFO/);
  expect(() => readFileInside(dir, 'ok', { maxBytes: 3 })).toThrow(/larger than 3 bytes/);
  mkdirSync(path.join(dir, 'real'));
  writeFileSync(path.join(dir, 'real', 'f'), 'x');
  symlinkSync('real', path.join(dir, 'via'));
  expect(() => readFileInside(dir, 'via/f', { maxBytes: 10 })).toThrow(
    /via is a symbolic link, not a directory/,
  );
  expect(() => readFileInside(dir, '.GIT/config', { maxBytes: 10 })).toThrow(/inside a \.git directory/);
});

test('writeFileInside replaces a planted link instead of writing through it, and refuses a linked directory', () => {
  const outside = mkdtempSync(path.join(tmpdir(), 'keyhole-outside-'));
  try {
    writeFileSync(path.join(outside, 'target'), 'untouched');
    mkdirSync(path.join(dir, '.vercel'));
    symlinkSync(path.join(outside, 'target'), path.join(dir, '.vercel', 'project.json'));
    writeFileInside(dir, '.vercel/project.json', '{}');
    expect(readFileSync(path.join(outside, 'target'), 'utf8')).toBe('untouched');
    expect(lstatSync(path.join(dir, '.vercel', 'project.json')).isFile()).toBe(true);
    expect(readdirSync(path.join(dir, '.vercel'))).toEqual(['project.json']);
    symlinkSync(outside, path.join(dir, 'linked'));
    expect(() => writeFileInside(dir, 'linked/x', 'x')).toThrow(/linked is a symbolic link, not a directory/);
    expect(readdirSync(outside)).toEqual(['target']);
  } finally {
    rmSync(outside, { recursive: true, force: true });
  }
});

test('resolveDirectory refuses .git, however reached, and anything outside the workspace', () => {
  mkdirSync(path.join(dir, '.git', 'hooks'), { recursive: true });
  mkdirSync(path.join(dir, 'site'));
  symlinkSync('.git', path.join(dir, 'g'));
  expect(resolveDirectory(path.join(dir, 'site'), dir)).toBe(path.join(dir, 'site'));
  expect(() => resolveDirectory(path.join(dir, '.git'), dir)).toThrow(/\.git directory/);
  expect(() => resolveDirectory(path.join(dir, 'g', 'hooks'), dir)).toThrow(/inside a \.git directory/);
  symlinkSync(tmpdir(), path.join(dir, 'out'));
  expect(() => resolveDirectory(path.join(dir, 'out'), dir)).toThrow(/outside the workspace/);
});
