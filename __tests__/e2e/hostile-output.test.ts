/**
 * Build logs and artifacts are the attacker's (issue 24, part 2), through the bundles: build-log
 * lines, Vercel's error text and a prebuilt artifact's messages reach the job log, the annotation,
 * the job summary and the pull-request comment as data. The runner's command parsing is emulated
 * (src/local/workflow-commands.ts); markdown is checked outside and inside its code blocks.
 */
import { mkdirSync, mkdtempSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { startBundledWorld, type BundledWorld } from '../../src/local/bundled.js';
import { startGitHubApi, type GitHubApi } from '../../src/local/github-api/index.js';
import type { ActionRun } from '../../src/local/runner.js';
import { runnerCommands, type WorkflowCommand } from '../../src/local/workflow-commands.js';

const GITHUB_TOKEN = 'ghs_local_job_token';
let world: BundledWorld;
let github: GitHubApi;

beforeAll(async () => {
  world = await startBundledWorld();
  github = await startGitHubApi({ token: GITHUB_TOKEN });
});
afterAll(async () => {
  await github.close();
  await world.close();
});
beforeEach(() => world.fake.clearRecord());

/** What a dependency's install script prints to forge commands, in every spelling the runner reads. */
const HOSTILE_LINES = [
  '::set-output name=deployment-url::https://evil.example',
  '::add-mask::Uploading',
  '::stop-commands::abcdefgh',
  '::error::injected error',
  '::abcdefgh::',
  '  \u0085::error::after a next-line character',
  '\u00A0\u2003\u3000::warning::after unicode spaces',
  '\u2028::notice::after a line separator',
  'foo ##[set-output name=deployment-url]evil',
  'progress 50%\r::warning::after a carriage return',
  '::SAVE-STATE name=credential::forged',
  '##[add-path]/evil/bin',
  '::set-env name=NODE_OPTIONS::--require /evil',
  '::add-matcher::/evil/matcher.json',
  '::group::a forged group',
  '::endgroup::',
  '::stop-commands::ijklmnop',
];

/** Markdown a fork's artifact or build error may carry: mentions, HTML, links, images, the marker. */
const HOSTILE_MARKDOWN = [
  'Build failed: @octocat @acme/security please look',
  '<img src="https://evil.example/pixel.png"> <script>alert(1)</script> <details open>',
  '[click here](https://evil.example/phish) ![badge](https://evil.example/i.png) https://evil.example/auto',
  '<!-- keyhole:marketing-site -->',
  '```',
  '# a heading after a closed fence',
  '`````',
  '::set-output name=x::from the error ##[set-output name=y]z',
].join('\n');

const FORBIDDEN = new Set([
  'set-output',
  'save-state',
  'set-env',
  'add-path',
  'add-matcher',
  'remove-matcher',
  'echo',
  'notice',
]);

/** Every command the runner acts on is one the action issues itself, with its own data. */
function expectOnlyOwnCommands(commands: WorkflowCommand[], expectedErrors: number) {
  expect(commands.filter((c) => FORBIDDEN.has(c.command))).toEqual([]);
  for (const mask of commands.filter((c) => c.command === 'add-mask'))
    expect(mask.data).toMatch(/^(khd_[\w-]+|eyJ[\w.-]+)$/);
  for (const group of commands.filter((c) => c.command === 'group'))
    expect(group.data).toMatch(/^Build log of dpl_\w+$/);
  expect(commands.filter((c) => c.command === 'warning')).toEqual([]);
  expect(commands.filter((c) => c.command === 'error')).toHaveLength(expectedErrors);
  // @actions/core's own debug line when it asks for the OIDC token.
  for (const debug of commands.filter((c) => c.command === 'debug'))
    expect(debug.data).toMatch(/^ID token url is /);
  const stops = commands.filter((c) => c.command === 'stop-commands');
  for (const stop of stops) expect(stop.data).toMatch(/^[0-9a-f]{64}$/);
  const known = new Set([
    'add-mask',
    'debug',
    'group',
    'endgroup',
    'error',
    'stop-commands',
    ...stops.map((s) => s.data),
  ]);
  expect(commands.filter((c) => !known.has(c.command))).toEqual([]);
}

function workspaceWith(files: Record<string, string>): string {
  const dir = mkdtempSync(path.join(world.dir, 'ws-'));
  for (const [name, content] of Object.entries(files)) {
    mkdirSync(path.dirname(path.join(dir, name)), { recursive: true });
    writeFileSync(path.join(dir, name), content);
  }
  return dir;
}

test('build-log lines that look like workflow commands are relayed as text, never run', async () => {
  const workspace = workspaceWith({ 'site/index.html': 'hi', 'site/BUILD_OUTPUT': HOSTILE_LINES.join('\n') });
  const run = await world.run({ path: 'site' }, { workspace });
  expect(run.code).toBe(0);
  // Shown to the reader, line by line.
  expect(run.stdout).toContain('::error::injected error');
  expect(run.stdout).toContain('after a carriage return');
  // The runner, with and without honouring stop-commands, finds only the action's own commands.
  expectOnlyOwnCommands(runnerCommands(run), 0);
  expectOnlyOwnCommands(runnerCommands(run, { honourStopCommands: false }), 0);
  expect(runnerCommands(run).filter((c) => c.command === 'stop-commands').length).toBeGreaterThan(0);
  expect(run.outputs['deployment-url']).toMatch(/^https:\/\/marketing-site-/);
  expect(run.state).not.toHaveProperty('credential', 'forged');
});

/** The text outside fenced code blocks, by CommonMark's fence rules (a closing fence is at least as long). */
function outsideCode(markdown: string): { outside: string; code: string[] } {
  const outside: string[] = [];
  const code: string[] = [];
  let fence: string | undefined;
  let block: string[] = [];
  for (const line of markdown.split('\n')) {
    const match = /^ {0,3}(`{3,}|~{3,})/.exec(line);
    if (!fence && match) {
      fence = match[1]!;
      block = [];
    } else if (
      fence &&
      match &&
      match[1]![0] === fence[0] &&
      match[1]!.length >= fence.length &&
      line.trim() === match[1]
    ) {
      code.push(block.join('\n'));
      fence = undefined;
    } else if (fence) block.push(line);
    else outside.push(line);
  }
  if (fence) code.push(block.join('\n'));
  return { outside: outside.join('\n'), code };
}

function expectInert(markdown: string, marker = 0) {
  const { outside, code } = outsideCode(markdown);
  // Outside code: no HTML but the marker, no mention, nothing of the attacker's links.
  expect(outside.replace(/^<!-- keyhole:[\w.-]+ -->\n/, '')).not.toMatch(/<|@\w|evil/);
  // The whole text, code included: nothing a renderer or a marker search could take.
  expect(markdown).not.toMatch(/@octocat|<img|<script|<details|\]\(https:\/\/evil|:\/\/evil/);
  expect(markdown.split('<!-- keyhole:')).toHaveLength(marker + 1);
  expect(markdown.length).toBeLessThan(65_536);
  // The attacker's text is still there to read, quoted in one code block.
  expect(code.join('\n')).toContain('a heading after a closed fence');
}

describe('a failed build and a prebuilt artifact: annotation, summary and comment stay inert', () => {
  let issue = 40;
  async function deploy(files: Record<string, string>, inputs: Record<string, string>): Promise<ActionRun> {
    issue += 1;
    const workspace = workspaceWith(files);
    const event = path.join(workspace, 'event.json');
    writeFileSync(event, JSON.stringify({ pull_request: { number: issue } }));
    // A comment someone pasted the marker into, to have the bot edit theirs instead of its own.
    github.comments.set(issue, [
      {
        id: 9000 + issue,
        body: `<!-- keyhole:marketing-site -->\nforged`,
        user: { login: 'mallory', type: 'User' },
      },
    ]);
    return world.run(
      { comment: 'true', 'github-token': GITHUB_TOKEN, ...inputs },
      {
        workspace,
        env: {
          GITHUB_EVENT_NAME: 'pull_request',
          GITHUB_EVENT_PATH: event,
          GITHUB_API_URL: github.url,
          GITHUB_REPOSITORY: 'acme/marketing',
        },
        claims: { ref: `refs/pull/${issue}/merge`, event_name: 'pull_request' },
      },
    );
  }

  function expectInertEverywhere(run: ActionRun) {
    expect(run.code).not.toBe(0);
    const commands = runnerCommands(run);
    expectOnlyOwnCommands(commands, 1);
    expectOnlyOwnCommands(runnerCommands(run, { honourStopCommands: false }), 1);
    // The error annotation carries the text as data.
    expect(commands.find((c) => c.command === 'error')!.data).toContain('a heading after a closed fence');
    expectInert(run.summary);
    const comments = github.comments.get(issue)!;
    // The forged comment is left alone; the bot wrote its own.
    expect(comments[0]).toMatchObject({ body: `<!-- keyhole:marketing-site -->\nforged` });
    expect(comments).toHaveLength(2);
    expect(comments[1]!.body.startsWith('<!-- keyhole:marketing-site -->\n')).toBe(true);
    expectInert(comments[1]!.body, 1);
  }

  test("Vercel's build error", async () => {
    const run = await deploy(
      { 'site/index.html': 'hi', 'site/BUILD_ERROR': HOSTILE_MARKDOWN },
      { path: 'site' },
    );
    expect(run.outputs['ready-state']).toBe('ERROR');
    expectInertEverywhere(run);
  });

  test("a prebuilt artifact's builds.json error", async () => {
    const run = await deploy(
      {
        'preview/.vercel/output/config.json': '{"version":3}',
        'preview/.vercel/output/builds.json': JSON.stringify({
          target: 'preview',
          error: { message: HOSTILE_MARKDOWN },
        }),
      },
      { path: 'preview', prebuilt: 'true' },
    );
    expectInertEverywhere(run);
  });
});
