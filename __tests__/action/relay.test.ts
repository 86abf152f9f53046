/** relay.ts: foreign text made inert for the runner and for markdown, checked with the runner emulator. */
import {
  annotationText,
  createRelay,
  inertMarkdownText,
  inertText,
  markdownLink,
  quoteBlock,
  quoteInline,
} from '../../src/action/relay.js';
import { runnerCommands } from '../../src/local/workflow-commands.js';

const HOSTILE = [
  '::set-output name=a::b',
  '  \u0085::error::x',
  '\u00A0::warning::y',
  'foo ##[set-output name=c]d',
  'p\r::notice::z',
  '::STOP-COMMANDS::abcdefgh',
  '###[add-path]/x',
].join('\n');

test('inertText leaves no command the runner would read, with or without stop-commands', () => {
  const stdout = `${inertText(HOSTILE)}\n`;
  expect(runnerCommands({ stdout })).toEqual([]);
  expect(runnerCommands({ stdout }, { honourStopCommands: false })).toEqual([]);
  expect(inertText('plain line')).toBe('plain line');
});

test('createRelay wraps each block in a random stop token and resumes it', () => {
  const lines: string[] = [];
  const relay = createRelay((line) => lines.push(line));
  relay(HOSTILE.split('\n'));
  relay([]);
  const stdout = `${lines.join('\n')}\n`;
  const commands = runnerCommands({ stdout });
  expect(commands.map((c) => c.command)).toEqual(['stop-commands', commands[0]!.data]);
  expect(commands[0]!.data).toMatch(/^[0-9a-f]{64}$/);
  expect(runnerCommands({ stdout }, { honourStopCommands: false }).map((c) => c.command)).toEqual([
    'stop-commands',
  ]);
});

test('annotationText caps the message and breaks the legacy form', () => {
  expect(annotationText('a ##[set-output name=x]y')).not.toContain('##[');
  expect(annotationText('x'.repeat(10_000)).length).toBeLessThan(4100);
});

test('quoteBlock: a fence longer than any backtick run, capped, and inert inside', () => {
  const block = quoteBlock('```\n`````\n@octocat <img src=x> [a](https://e.x) https://e.x');
  expect(block.startsWith('``````text\n')).toBe(true);
  expect(block.endsWith('\n``````')).toBe(true);
  expect(block).not.toMatch(/@octocat|<img|\]\(|https:\/\//);
  expect(quoteBlock('y'.repeat(20_000)).length).toBeLessThan(8100);
});

test('quoteInline and markdownLink', () => {
  expect(quoteInline('promote: dpl_1')).toBe('`promote: dpl_1`');
  expect(quoteInline('a`b')).toBe('``a`b``');
  expect(markdownLink('https://x.vercel.app')).toBe('[https://x.vercel.app](https://x.vercel.app)');
  expect(markdownLink('https://x.app/a', 'open')).toBe('[open](https://x.app/a)');
  expect(markdownLink('https://x.app) ![i](https://evil')).toMatch(/^`/);
  expect(inertMarkdownText('@a <b')).toBe('@\u200Ba <\u200Bb');
});
