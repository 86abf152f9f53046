/**
 * Holds an emulated Vercel to Vercel's upload contract: a deployment create that lists a file whose
 * bytes were never uploaded answers `400 missing_files`, as Vercel does.
 *
 * `emulate` (the demo's Vercel) takes any file list on trust and never asks for a byte, so the
 * action's summary said "0 uploaded" for a first deploy. In front of it, the demo runs the real
 * create → missing_files → upload → create flow and its summary counts what was really sent.
 */
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';

export interface UploadGate {
  url: string;
  /** Digests whose bytes reached the emulator through `POST /v2/files`, and their sizes. */
  uploaded: ReadonlyMap<string, number>;
  close(): Promise<void>;
}

const readBody = async (req: IncomingMessage): Promise<Buffer> => {
  const chunks: Buffer[] = [];
  for await (const chunk of req) chunks.push(chunk as Buffer);
  return Buffer.concat(chunks);
};

/** The shas a create body lists that were never uploaded (an unparsable body is the emulator's to refuse). */
function missingFrom(body: Buffer, uploaded: ReadonlyMap<string, number>): string[] {
  let parsed: unknown;
  try {
    parsed = JSON.parse(body.toString('utf8'));
  } catch {
    return [];
  }
  const files = (parsed as { files?: unknown }).files;
  if (!Array.isArray(files)) return [];
  const shas = files
    .map((f) => (f && typeof f === 'object' ? (f as { sha?: unknown }).sha : undefined))
    .filter((sha): sha is string => typeof sha === 'string');
  return [...new Set(shas)].filter((sha) => !uploaded.has(sha));
}

async function forward(upstream: string, req: IncomingMessage, body: Buffer): Promise<Response> {
  const headers = new Headers();
  for (const [name, value] of Object.entries(req.headers)) {
    if (value === undefined || ['host', 'connection', 'content-length'].includes(name)) continue;
    headers.set(name, Array.isArray(value) ? value.join(', ') : value);
  }
  return fetch(new URL(req.url ?? '/', upstream), {
    method: req.method,
    headers,
    ...(body.length > 0 ? { body: new Uint8Array(body) } : {}),
  });
}

/** Starts the gate on loopback in front of `upstream` (the emulator's URL). */
export async function startUploadGate(upstream: string): Promise<UploadGate> {
  const uploaded = new Map<string, number>();
  const handle = async (req: IncomingMessage, res: ServerResponse) => {
    const body = await readBody(req);
    const route = new URL(req.url ?? '/', 'http://gate').pathname;
    if (req.method === 'POST' && /^\/v1[0-9]\/deployments$/.test(route)) {
      const missing = missingFrom(body, uploaded);
      if (missing.length > 0) {
        res.writeHead(400, { 'content-type': 'application/json' });
        res.end(JSON.stringify({ error: { code: 'missing_files', message: 'Missing files', missing } }));
        return;
      }
    }
    const answer = await forward(upstream, req, body);
    const digest = req.headers['x-vercel-digest'] ?? req.headers['x-now-digest'];
    if (req.method === 'POST' && route === '/v2/files' && answer.ok && typeof digest === 'string')
      uploaded.set(digest, body.length);
    const headers: Record<string, string> = {};
    answer.headers.forEach((value, name) => {
      if (!['content-encoding', 'content-length', 'transfer-encoding', 'connection'].includes(name))
        headers[name] = value;
    });
    res.writeHead(answer.status, headers);
    res.end(Buffer.from(await answer.arrayBuffer()));
  };
  const server: Server = createServer((req, res) => {
    handle(req, res).catch((error: unknown) => {
      res.writeHead(502, { 'content-type': 'application/json' });
      res.end(JSON.stringify({ error: { code: 'bad_gateway', message: String(error) } }));
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}`,
    uploaded,
    close: () =>
      new Promise<void>((resolve, reject) => {
        server.closeAllConnections();
        server.close((error) => (error ? reject(error) : resolve()));
      }),
  };
}
