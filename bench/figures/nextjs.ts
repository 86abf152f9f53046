/**
 * [2b] A typical real site: a Next.js-shaped `.vercel/output` (hashed static chunks, CSS, fonts and
 * images, prerendered pages, a few functions with their bundled server code), deployed prebuilt by
 * the action and by `vercel deploy --prebuilt`.
 */
import { createCipheriv } from 'node:crypto';
import { mkdirSync, rmSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { MB, WORK, log, quick, type Figure } from '../harness.js';
import { actionAgainstClis } from './cli.js';

const KB = 1024;

/**
 * Writes the tree under `root` deterministically: sizes from a fixed LCG, contents from an AES-CTR
 * keystream (incompressible, like minified and hashed assets after transport compression is off).
 * Returns the number of files and bytes written.
 */
export function generateNextOutput(root: string, scale = 1): { files: number; bytes: number } {
  rmSync(root, { recursive: true, force: true });
  const out = path.join(root, '.vercel', 'output');
  let state = 18;
  const random = () => (state = (state * 1103515245 + 12345) >>> 0) / 2 ** 32;
  const between = (min: number, max: number) => Math.floor(min + (max - min) * random());
  const key = Buffer.alloc(16, 18);
  let files = 0;
  let bytes = 0;
  const write = (file: string, size: number, text?: string) => {
    const iv = Buffer.alloc(16);
    iv.writeUInt32BE(files, 12);
    const data =
      text !== undefined
        ? Buffer.from(text)
        : createCipheriv('aes-128-ctr', key, iv).update(Buffer.alloc(size));
    mkdirSync(path.dirname(path.join(out, file)), { recursive: true });
    writeFileSync(path.join(out, file), data);
    files += 1;
    bytes += data.byteLength;
  };
  const n = (count: number) => Math.max(1, Math.round(count * scale));
  const hash = (i: number) => ((i * 2654435761) >>> 0).toString(16).padStart(8, '0');
  const buildId = 'bench-build-0001';

  write('config.json', 0, JSON.stringify({ version: 3, routes: [{ handle: 'filesystem' }] }));
  write('builds.json', 0, JSON.stringify({ target: 'preview', builds: [{ use: '@vercel/next' }] }));
  // Client chunks: many small, a few framework-sized.
  for (let i = 0; i < n(780); i++)
    write(`static/_next/static/chunks/${hash(i)}.js`, between(1 * KB, 40 * KB));
  for (let i = 0; i < n(12); i++)
    write(`static/_next/static/chunks/framework-${hash(i + 9000)}.js`, between(80 * KB, 260 * KB));
  for (let i = 0; i < n(40); i++)
    write(`static/_next/static/css/${hash(i + 5000)}.css`, between(2 * KB, 60 * KB));
  write(`static/_next/static/${buildId}/_buildManifest.js`, 6 * KB);
  write(`static/_next/static/${buildId}/_ssgManifest.js`, 1 * KB);
  // Fonts and images: optimised, mid-sized, a couple of large hero images and a video.
  for (let i = 0; i < n(60); i++)
    write(`static/_next/static/media/${hash(i + 7000)}.woff2`, between(15 * KB, 60 * KB));
  for (let i = 0; i < n(160); i++) write(`static/images/photo-${i}.webp`, between(20 * KB, 400 * KB));
  for (let i = 0; i < n(3); i++) write(`static/images/hero-${i}.jpg`, between(1.2 * MB, 2.5 * MB));
  write('static/video/intro.mp4', 6 * MB);
  // Prerendered pages with their RSC payloads.
  for (let i = 0; i < n(200); i++) {
    write(`static/blog/post-${i}.html`, between(8 * KB, 50 * KB));
    write(`static/blog/post-${i}.rsc`, between(2 * KB, 20 * KB));
  }
  write('static/index.html', 30 * KB);
  write('static/404.html', 4 * KB);
  // Functions: the route handlers' bundled server code plus a few traced files each.
  const functions = ['index', 'api/search', 'api/revalidate', 'blog/[slug]', 'dashboard', '_middleware'];
  for (const [i, name] of functions.entries()) {
    const dir = `functions/${name}.func`;
    write(
      `${dir}/.vc-config.json`,
      0,
      JSON.stringify(
        name === '_middleware'
          ? { runtime: 'edge', entrypoint: 'index.js' }
          : {
              runtime: 'nodejs20.x',
              handler: '___next_launcher.cjs',
              launcherType: 'Nodejs',
              shouldAddHelpers: false,
            },
      ),
    );
    write(`${dir}/index.js`, between(0.8 * MB, 3 * MB) >>> 0);
    for (let j = 0; j < n(8); j++)
      write(`${dir}/.next/server/chunks/${hash(i * 100 + j)}.js`, between(10 * KB, 300 * KB));
  }
  return { files, bytes };
}

export default {
  name: 'nextjs',
  async run({ issuer, record }) {
    const workspace = path.join(WORK, 'ws-nextjs');
    const { files, bytes } = generateNextOutput(path.join(workspace, 'site'), quick ? 0.4 : 1);
    log(
      `\n[2b] a Next.js-shaped .vercel/output (${files} files, ${(bytes / MB).toFixed(0)} MB) deployed prebuilt: the action ÷ vercel deploy --prebuilt`,
    );
    const { action, clis } = await actionAgainstClis(issuer, workspace, 'site', true);
    for (const { version, ms } of clis) {
      const ratio = action / ms;
      record(
        `Next.js-shaped prebuilt (${files} files, ${(bytes / MB).toFixed(0)} MB): action ÷ vercel deploy --prebuilt ${version}`,
        `${ratio.toFixed(2)} (${(action / 1000).toFixed(2)} s vs ${(ms / 1000).toFixed(2)} s)`,
        '≤ 0.6',
        ratio <= 0.6,
      );
    }
  },
} satisfies Figure;
