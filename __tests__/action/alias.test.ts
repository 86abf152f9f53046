/** The alias template: placeholders, the {branch} slug, and what is refused before anything is deployed. */
import { BRANCH_SLUG_MAX, renderAlias, slugifyBranch } from '../../src/action/alias.js';

const values = {
  project: 'docs',
  pr: 12,
  branch: 'feature/x',
  sha: 'A3F1C0D2E4B5A6978899AABBCCDDEEFF00112233',
};

test.each([
  ['pr-{pr}.preview.acme.dev', 'pr-12.preview.acme.dev'],
  ['{project}-{branch}.preview.acme.dev', 'docs-feature-x.preview.acme.dev'],
  ['{sha}.preview.acme.dev', 'a3f1c0d.preview.acme.dev'],
  ['  PR-{pr}.Preview.Acme.dev ', 'pr-12.preview.acme.dev'],
])('%s renders %s', (template, expected) => {
  expect(renderAlias(template, values)).toBe(expected);
});

test.each([
  ['pr-{pr}.preview.acme.dev', { project: 'docs' }, /not for a pull request/],
  ['{branch}.preview.acme.dev', { project: 'docs' }, /no branch/],
  ['{ref}.preview.acme.dev', values, /\{ref\} is not a placeholder/],
  ['pr-{pr}', values, /not a host name/],
  ['pr_{pr}.preview.acme.dev', values, /not a host name/],
  [`${'x'.repeat(61)}-{pr}.acme.dev`, values, /has 63 characters|at most 63/],
])('%s is refused', (template, input, message) => {
  expect(() => renderAlias(template, input)).toThrow(message);
});

test.each([
  ['main', 'main'],
  ['Feature/JIRA-1234_fix', 'feature-jira-1234-fix'],
  ['--weird--', 'weird'],
  ['dependabot/npm_and_yarn/ws-8.18.0', 'dependabot-npm-and-yarn-ws-8-18-0'],
])('branch %s slugs to %s', (branch, slug) => {
  expect(slugifyBranch(branch)).toBe(slug);
});

test('long and empty slugs keep a stable hash of the full name, within one label', () => {
  const a = 'feature/' + 'a'.repeat(80);
  const b = 'feature/' + 'a'.repeat(79) + 'b';
  expect(slugifyBranch(a)).toHaveLength(BRANCH_SLUG_MAX);
  expect(slugifyBranch(a)).toBe(slugifyBranch(a));
  expect(slugifyBranch(a)).not.toBe(slugifyBranch(b));
  expect(slugifyBranch('日本語')).toMatch(/^[0-9a-f]{6}$/);
});
