/** What every deploy module shares: the deployment as Vercel reports it, a deploy's settings, DeployError. */
import type { BatchCapability } from '../shared/wire.js';
import type { DeployFile } from './files.js';
import type { RetryPolicy } from './retry.js';

export type ReadyState = 'QUEUED' | 'INITIALIZING' | 'BUILDING' | 'READY' | 'ERROR' | 'CANCELED' | string;

export interface Deployment {
  id: string;
  url: string;
  inspectorUrl?: string | null;
  readyState: ReadyState;
  aliasAssigned?: boolean | number | null;
  errorMessage?: string | null;
}

/** The states a deployment never leaves. */
export const TERMINAL = new Set(['READY', 'ERROR', 'CANCELED']);

export interface DeployLog {
  info(line: string): void;
  warning(line: string): void;
  /** Foreign lines (the build log), relayed as data (relay.ts createRelay). */
  relay(lines: readonly string[]): void;
  startGroup(name: string): void;
  endGroup(): void;
}

export interface DeployTarget {
  brokerUrl: string;
  credential: string;
  target: string;
  prebuilt: boolean;
  /** `forceNew=1`: build even when Vercel has a deployment of the same files. */
  force?: boolean;
  /** `withCache=1`: a forced build keeps the build cache. */
  withCache?: boolean;
  /** The broker's batched upload, from the exchange answer; absent (an older broker): one request per file. */
  batch?: BatchCapability;
}

export interface DeployDeps {
  fetch: typeof fetch;
  retry: RetryPolicy;
  log: DeployLog;
  signal: AbortSignal;
  now: () => number;
  uploadConcurrency?: number;
  pollIntervalMs?: number;
}

export interface UploadStats {
  uploaded: number;
  reused: number;
  uploadedBytes: number;
  totalBytes: number;
}

export class DeployError extends Error {
  readonly deployment: Deployment | undefined;
  constructor(message: string, deployment?: Deployment) {
    super(message);
    this.name = 'DeployError';
    this.deployment = deployment;
  }
}

/** What a deploy uploaded against what Vercel already had (by content: identical files count once). */
export function uploadStats(files: DeployFile[], uploaded: DeployFile[]): UploadStats {
  return {
    uploaded: uploaded.length,
    reused: new Set(files.map((f) => f.sha)).size - uploaded.length,
    uploadedBytes: uploaded.reduce((n, f) => n + f.size, 0),
    totalBytes: files.reduce((n, f) => n + f.size, 0),
  };
}

/** A size for people: bytes, KB or MB, so a small site's upload never reads "0.0 MB". */
export function formatBytes(bytes: number): string {
  if (bytes < 1024) return `${bytes} B`;
  if (bytes < 1024 * 1024) return `${(bytes / 1024).toFixed(1)} KB`;
  return `${(bytes / 1024 / 1024).toFixed(1)} MB`;
}
