// Stages the npm package `keyhole-broker` (the broker CLI) in a folder, ready for `npm pack` or
// `npm publish`: the committed bundle dist/broker/ and a manifest with no dependencies, because
// everything the broker runs is inside the bundle. The repository's own package.json stays private:
// published, it would ship the action, the sources and a dependency tree no broker needs. The
// action is consumed with `uses: OWNER/keyhole@v1`, never from npm.
//   node scripts/pack-broker.mjs [out-dir]    (default .build/npm)
// In GitHub Actions the manifest names the building repository, which npm provenance requires.
import { cpSync, mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const out = path.resolve(process.argv[2] ?? path.join(root, '.build', 'npm'));
const repo = JSON.parse(readFileSync(path.join(root, 'package.json'), 'utf8'));
const repository = process.env.GITHUB_REPOSITORY;

rmSync(out, { recursive: true, force: true });
mkdirSync(path.join(out, 'dist'), { recursive: true });
cpSync(path.join(root, 'dist', 'broker'), path.join(out, 'dist', 'broker'), { recursive: true });
cpSync(path.join(root, 'LICENSE'), path.join(out, 'LICENSE'));

const manifest = {
  name: 'keyhole-broker',
  version: repo.version,
  description:
    'The Keyhole broker: swaps GitHub Actions OIDC tokens for deploy-only credentials to one pinned Vercel project, and gateways the Vercel API.',
  license: repo.license,
  type: 'module',
  engines: repo.engines,
  bin: { 'keyhole-broker': 'dist/broker/index.js' },
  files: ['dist/broker/'],
  keywords: ['vercel', 'github-actions', 'oidc', 'deploy', 'least-privilege', 'broker'],
  ...(repository
    ? {
        repository: { type: 'git', url: `git+https://github.com/${repository}.git` },
        homepage: `https://github.com/${repository}#readme`,
      }
    : {}),
};
writeFileSync(path.join(out, 'package.json'), `${JSON.stringify(manifest, null, 2)}\n`);

const docs = repository
  ? `https://github.com/${repository}/blob/main/docs`
  : 'the docs/ folder of the repository';
writeFileSync(
  path.join(out, 'README.md'),
  `# keyhole-broker

The broker of Keyhole: least-privilege Vercel deployments from GitHub Actions. It verifies a job's
GitHub OIDC token, applies your policy, mints a short-lived credential that can deploy one pinned
project, and forwards only the Vercel API calls such a deploy needs. One bundled file, no
dependencies; Node ${repo.engines.node}.

\`\`\`sh
npx keyhole-broker policy check --config broker.yaml
npx keyhole-broker serve --config broker.yaml --host 0.0.0.0 --port 8787
\`\`\`

Configuration: ${docs}/policy.md. Operations (TLS, Redis, rotation, metrics): ${docs}/operations.md.
Container image: ghcr.io, built by the same release with a build-provenance attestation.
`,
);
console.log(`staged keyhole-broker@${manifest.version} in ${path.relative(process.cwd(), out) || '.'}`);
