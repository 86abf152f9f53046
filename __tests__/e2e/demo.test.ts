/** `npm run demo` is the quick start's main job: it must keep working on a fresh clone. */
import { execFile } from 'node:child_process';
import path from 'node:path';
import { promisify } from 'node:util';
import { REPO_ROOT } from '../../src/local/runner.js';

test('npm run demo deploys, refuses every misuse, stops everything and exits 0', async () => {
  // stdout is a pipe here, as in CI logs: plain text, phrases whole.
  const { stdout } = await promisify(execFile)(
    process.execPath,
    [path.join(REPO_ROOT, 'scripts', 'run-ts.mjs'), 'scripts/demo.ts'],
    { cwd: REPO_ROOT, timeout: 120_000 },
  );
  expect(stdout).not.toContain('\x1b[');
  expect(stdout).toMatch(
    /The job summary the action wrote \(\$GITHUB_STEP_SUMMARY\):\n {3}│ ✅ Keyhole deploy of marketing-site\n/,
  );
  expect(stdout).toMatch(/^ {3}│ {3}State {6}✅ READY$/m);
  // A first deploy uploads every file of examples/site (index.html, style.css): the demo's Vercel asks
  // for them as Vercel does, so the summary counts what was really sent, in a unit that is not 0.0 MB.
  expect(stdout).toMatch(/^ {3}│ Uploading 2 file\(s\), [\d.]+ (B|KB); 0 already on Vercel$/m);
  expect(stdout).toMatch(/^ {3}│ {3}Files {6}2 uploaded, 0 already on Vercel$/m);
  expect(stdout).toMatch(/^ {3}│ {3}Bytes {6}([\d.]+ (B|KB)) uploaded of \1$/m);
  expect(stdout).toMatch(/^ {3}exchange allow marketing-site {2}allowed by rule 2 of marketing-site$/m);
  expect(stdout).not.toMatch(/allow\[\d+\]/);
  expect(stdout).toMatch(/deployment-url = .*https:\/\/marketing-site-/);
  expect(stdout).toMatch(/deploy another project \(billing\): refused/);
  expect(stdout).toMatch(/production from a feature branch: refused/);
  expect(stdout).toMatch(/replay a captured OIDC token: refused \(401 token_replayed\)/);
  expect(stdout).toMatch(/read env vars with the stolen credential: refused \(403 forbidden/);
  expect(stdout).toMatch(/Everything stopped \(broker exit code 0\)/);
  expect(stdout).toMatch(/Demo complete/);
  expect(stdout).not.toMatch(/✗/);
});
