/** The request as every route of the Vercel fake sees it, and the fake's ways of answering and reading bodies. */
import { createHash } from 'node:crypto';
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { FakeState } from './state.js';
import type { RecordedRequest } from './types.js';

export interface VercelRequest {
  req: IncomingMessage;
  res: ServerResponse;
  path: string;
  query: URLSearchParams;
  /** The team the query names (teamId, or slug), if any. */
  team: string | undefined;
  /** This request's entry in the record: routes add the bytes and the JSON body they read. */
  record: RecordedRequest;
}

/** A route: a method and an anchored path; `handle` answers with the path's captures. */
export interface Route {
  method: string;
  path: RegExp;
  handle(fake: FakeState, r: VercelRequest, match: RegExpExecArray): Promise<void> | void;
}

export const send = (
  res: ServerResponse,
  status: number,
  body: unknown,
  headers: Record<string, string> = {},
) => {
  res.writeHead(status, { 'content-type': 'application/json; charset=utf-8', ...headers });
  res.end(JSON.stringify(body));
};

export const error = (
  res: ServerResponse,
  status: number,
  code: string,
  message: string,
  extra: Record<string, unknown> = {},
  headers: Record<string, string> = {},
) => send(res, status, { error: { code, message, ...extra } }, headers);

/** Reads the request to its end, keeping nothing: the client sees the answer, not a broken pipe. */
export async function drain(req: IncomingMessage): Promise<void> {
  for await (const _ of req) void _;
}

/** Uploads keep their contents up to `keepBytes`; JSON bodies (`limit` = Infinity) are always kept. */
export async function readBody(
  req: IncomingMessage,
  hash: boolean,
  limit: number,
): Promise<{ bytes: number; data?: Buffer; sha?: string }> {
  const sha1 = hash ? createHash('sha1') : undefined;
  const chunks: Buffer[] = [];
  let bytes = 0;
  for await (const chunk of req as AsyncIterable<Buffer>) {
    bytes += chunk.length;
    sha1?.update(chunk);
    if (bytes <= limit) chunks.push(chunk);
  }
  return {
    bytes,
    ...(bytes <= limit ? { data: Buffer.concat(chunks) } : {}),
    ...(sha1 ? { sha: sha1.digest('hex') } : {}),
  };
}

/** A JSON body, recorded; undefined once the fake has answered 400 for a body that is not JSON. */
export async function readJson<T>(r: VercelRequest): Promise<T | undefined> {
  const raw = await readBody(r.req, false, Infinity);
  r.record.bytes = raw.bytes;
  try {
    const body = JSON.parse(raw.data?.toString('utf8') ?? '') as T;
    r.record.json = body;
    return body;
  } catch {
    error(r.res, 400, 'bad_request', 'Invalid JSON body');
    return undefined;
  }
}

export function teamOf(fake: FakeState, query: URLSearchParams): string | undefined {
  const teamId = query.get('teamId');
  const slug = query.get('slug');
  return teamId ?? fake.teams.find((t) => t.slug === slug)?.id;
}
