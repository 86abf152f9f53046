// The demo's terminal output: colour only where wanted, nothing cut, rules named as people read them.
import { summaryMarkdown } from '../../src/action/report.js';
import {
  createStyle,
  describeReason,
  formatAuditLine,
  summaryAsText,
  wrap,
} from '../../src/local/demo-output.js';

test.each<[string, boolean | undefined, NodeJS.ProcessEnv, string]>([
  ['a terminal', true, {}, '\x1b[1mKeyhole\x1b[0m'],
  ['a terminal with NO_COLOR=1', true, { NO_COLOR: '1' }, 'Keyhole'],
  [
    'a terminal with NO_COLOR empty (unset, per no-color.org)',
    true,
    { NO_COLOR: '' },
    '\x1b[1mKeyhole\x1b[0m',
  ],
  ['a pipe or a file', undefined, {}, 'Keyhole'],
])('on %s, bold text is %j', (_, isTTY, env, expected) => {
  expect(createStyle({ isTTY }, env).bold('Keyhole')).toBe(expected);
});

const reason =
  'ref refs/heads/feature/x may not deploy to production; workflow acme/marketing/.github/workflows/production.yml@refs/heads/feature/x may not deploy to production; target production is not allowed';

test('wrapping puts each phrase on its own line, breaks only between words, and keeps every word', () => {
  const text = wrap(reason, '    ', 50);
  const lines = text.split('\n');
  expect(lines[0]).toBe('    ref refs/heads/feature/x may not deploy to');
  expect(lines[1]).toBe('      production');
  expect(lines[2]).toBe('    workflow acme/marketing/.github/workflows/production.yml@refs/heads/feature/x');
  // Only a word longer than any line may pass the width, and it is never split.
  for (const line of lines)
    if (line.length > 50) expect(line.trim().split(' ').at(-1)!.length).toBeGreaterThan(44);
  expect(text.split(/\s+/).filter(Boolean)).toEqual(reason.replace(/;/g, '').split(' '));
});

test('without a terminal width, phrases are on their own lines and never broken', () => {
  expect(wrap(reason, '  ')).toBe(
    [
      '  ref refs/heads/feature/x may not deploy to production',
      '  workflow acme/marketing/.github/workflows/production.yml@refs/heads/feature/x may not deploy to production',
      '  target production is not allowed',
    ].join('\n'),
  );
});

test('an allow names its rule by position in the project, as the config file reads', () => {
  expect(describeReason({ project: 'marketing-site', reason: 'allow[1]' })).toBe(
    'allowed by rule 2 of marketing-site',
  );
  expect(describeReason({ project: 'marketing-site', reason: 'jti already used' })).toBe('jti already used');
  expect(
    formatAuditLine({ event: 'exchange', decision: 'allow', project: 'marketing-site', reason: 'allow[0]' }),
  ).toBe('   exchange allow marketing-site  allowed by rule 1 of marketing-site');
  expect(
    formatAuditLine({
      event: 'gateway',
      decision: 'deny',
      project: 'billing',
      route: 'GET /v9/x',
      status: 403,
    }),
  ).toBe('   gateway  deny  billing         GET /v9/x: 403');
});

test("the action's job summary reads as aligned text, links and errors included", () => {
  const markdown = summaryMarkdown({
    project: 'marketing-site',
    target: 'preview',
    sha: 'a3f1c0d2e4b5a6978899',
    phases: { exchange: 300 },
    deployment: {
      id: 'dpl_1',
      url: 'marketing-site-1.vercel.app',
      readyState: 'ERROR',
      inspectorUrl: 'https://vercel.com/acme/marketing-site/1',
    },
    error: 'The deployment ended ERROR.\nOpen the inspector URL.',
  });
  expect(summaryAsText(markdown, '│ ')).toBe(
    [
      '│ ❌ Keyhole deploy of marketing-site',
      '│   Project    marketing-site',
      '│   Target     preview',
      '│   State      ❌ ERROR',
      '│   URL        https://marketing-site-1.vercel.app',
      '│   Inspector  https://vercel.com/acme/marketing-site/1',
      '│   Commit     a3f1c0d2e4b5',
      '│   Duration   exchange 0.3 s',
      '│   The step failed:',
      '│   The deployment ended ERROR.',
      '│   Open the inspector URL.',
    ].join('\n'),
  );
});
