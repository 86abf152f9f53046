/**
 * The shared store on Cloudflare Workers: one Durable Object per key. A Durable Object runs one
 * request at a time and its SQLite storage is synchronous, so each operation below reads and writes
 * with no other request in between: the reservation and the counter are atomic for every isolate
 * and every location that shares the namespace, with no lock and no script.
 *
 * The Workers types are declared here in the shape this module uses, so the broker core keeps
 * compiling and testing under Node without `@cloudflare/workers-types`.
 */
import type { ReplayStore } from './store.js';

/** The part of a Durable Object namespace binding (`env.KEYHOLE_REPLAY`) the store calls. */
export interface DurableObjectNamespaceBinding {
  idFromName(name: string): unknown;
  get(id: unknown): { fetch(url: string, init: RequestInit): Promise<Response> };
}

interface SqlStorage {
  exec(query: string, ...bindings: unknown[]): { toArray(): Record<string, unknown>[] };
}

/** The `ctx` workerd hands a Durable Object's constructor (SQLite-backed class). */
export interface DurableObjectContext {
  storage: {
    sql: SqlStorage;
    setAlarm(scheduledTime: number): Promise<void>;
    deleteAll(): Promise<void>;
  };
}

type Operation =
  | { op: 'reserve'; ttlMs: number }
  | { op: 'release' }
  | { op: 'get' }
  | { op: 'put'; value: string; ttlMs: number }
  | { op: 'take'; amount: number; limit: number; ttlMs: number };

interface Answer {
  reserved?: boolean;
  value?: string | number | null;
}

/** The Durable Object class; export it from the Worker's entry under the name `wrangler.toml` binds. */
export class ReplayStoreObject {
  private readonly ctx: DurableObjectContext;
  private readonly sql: SqlStorage;

  constructor(ctx: DurableObjectContext) {
    this.ctx = ctx;
    this.sql = ctx.storage.sql;
  }

  async fetch(request: Request): Promise<Response> {
    const operation = (await request.json()) as Operation;
    // From here to the response nothing awaits, so no other request of this key runs in between.
    const answer = this.apply(operation, Date.now());
    return Response.json(answer);
  }

  /** Deletes the object's storage once its entry has expired, so expired keys cost nothing. */
  async alarm(): Promise<void> {
    const entry = this.live(Date.now());
    if (entry) await this.ctx.storage.setAlarm(entry.expiry);
    else await this.ctx.storage.deleteAll();
  }

  private apply(operation: Operation, now: number): Answer {
    // Created on every call, not once: the alarm's deleteAll() drops the table with the entry.
    this.sql.exec(
      'CREATE TABLE IF NOT EXISTS entry (id INTEGER PRIMARY KEY CHECK (id = 1), value TEXT, expiry INTEGER)',
    );
    const entry = this.live(now);
    switch (operation.op) {
      case 'reserve':
        if (entry) return { reserved: false };
        this.write('1', now + operation.ttlMs);
        return { reserved: true };
      case 'release':
        this.sql.exec('DELETE FROM entry');
        return {};
      case 'get':
        return { value: entry?.value ?? null };
      case 'put':
        this.write(operation.value, now + operation.ttlMs);
        return {};
      case 'take': {
        const next = Number(entry?.value ?? 0) + operation.amount;
        if (next > operation.limit) return { value: null };
        // A counter keeps the expiry it was created with, as the Redis store's KEEPTTL does.
        this.write(String(next), entry?.expiry ?? now + operation.ttlMs);
        return { value: next };
      }
    }
  }

  private live(now: number): { value: string; expiry: number } | undefined {
    const [row] = this.sql.exec('SELECT value, expiry FROM entry').toArray();
    if (!row || (row.expiry as number) <= now) return undefined;
    return { value: row.value as string, expiry: row.expiry as number };
  }

  private write(value: string, expiry: number): void {
    this.sql.exec('INSERT OR REPLACE INTO entry (id, value, expiry) VALUES (1, ?, ?)', value, expiry);
    // Not awaited: the alarm is storage too, committed with this write before the response leaves.
    void this.ctx.storage.setAlarm(expiry);
  }
}

/**
 * The broker's side: each key is the name of its own object. Any failure (the object unreachable,
 * an unexpected answer) rejects, and the broker fails closed (503), as with Redis.
 */
export class DurableObjectReplayStore implements ReplayStore {
  private readonly namespace: DurableObjectNamespaceBinding;

  constructor(namespace: DurableObjectNamespaceBinding) {
    this.namespace = namespace;
  }

  async reserve(key: string, ttlMs: number): Promise<boolean> {
    return (await this.call(key, { op: 'reserve', ttlMs })).reserved === true;
  }

  async release(key: string): Promise<void> {
    await this.call(key, { op: 'release' });
  }

  async get(key: string): Promise<string | undefined> {
    const { value } = await this.call(key, { op: 'get' });
    return typeof value === 'string' ? value : undefined;
  }

  async put(key: string, value: string, ttlMs: number): Promise<void> {
    await this.call(key, { op: 'put', value, ttlMs });
  }

  async take(key: string, amount: number, limit: number, ttlMs: number): Promise<number | undefined> {
    const { value } = await this.call(key, { op: 'take', amount, limit, ttlMs });
    return typeof value === 'number' ? value : undefined;
  }

  private async call(key: string, operation: Operation): Promise<Answer> {
    const stub = this.namespace.get(this.namespace.idFromName(`keyhole:${key}`));
    // The host is never resolved: a Durable Object stub delivers the request to the object itself.
    const response = await stub.fetch('https://replay-store.keyhole/', {
      method: 'POST',
      body: JSON.stringify(operation),
    });
    if (!response.ok) throw new Error(`replay store object answered ${response.status}`);
    return (await response.json()) as Answer;
  }
}
