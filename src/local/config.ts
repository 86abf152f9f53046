/**
 * Broker configs for the local world, built as typed objects shaped like the config file (the
 * schema's input type) and written as YAML in the layout an admin would write by hand.
 */
import { Document, isScalar, Scalar, visit } from 'yaml';
import type { z } from 'zod';
import { parseConfig } from '../broker/policy/config.js';
import type { configSchema, projectSchema, ruleSchema } from '../broker/policy/schema.js';

/** The config file as written: keys with defaults may be left out. */
export type ConfigInput = z.input<typeof configSchema>;
export type ProjectInput = z.input<typeof projectSchema>;
export type RuleInput = z.input<typeof ruleSchema>;

/**
 * A change to a config: objects merge key by key (a project not in the base is added), lists and
 * values replace what they name, and `undefined` removes the key.
 */
export type Overrides<T> = {
  [K in keyof T]?: T[K] extends readonly unknown[]
    ? T[K] | undefined
    : T[K] extends object | undefined
      ? Overrides<NonNullable<T[K]>> | undefined
      : T[K] | undefined;
};
export type ConfigOverrides = Overrides<ConfigInput>;

export interface WorldUrls {
  issuer: string;
  jwksUrl: string;
  vercelApiUrl: string;
}

export const AUDIENCE = 'https://keyhole.example.com';

export const LOCAL_URLS: WorldUrls = {
  issuer: 'https://token.actions.githubusercontent.com',
  jwksUrl: 'https://token.actions.githubusercontent.com/.well-known/jwks',
  vercelApiUrl: 'https://api.vercel.com',
};

const MARKETING = { repository: 'acme/marketing', repository_id: '123456789', repository_owner_id: '987654' };

/** The local world's config: marketing-site (production from main, previews from branches and pull requests) and billing. */
function baseConfig(urls: WorldUrls): ConfigInput {
  return {
    audience: AUDIENCE,
    issuer: urls.issuer,
    jwks_url: urls.jwksUrl,
    vercel_api_url: urls.vercelApiUrl,
    credential_ttl_seconds: 600,
    projects: {
      'marketing-site': {
        team_id: 'team_abc123',
        project_id: 'prj_marketing',
        token_env: 'VERCEL_TOKEN_MARKETING',
        custom_environments: ['staging'],
        allow: [
          {
            ...MARKETING,
            targets: ['production'],
            environments: ['production'],
            refs: ['refs/heads/main'],
            workflows: ['acme/marketing/.github/workflows/deploy.yml@refs/heads/main'],
            events: ['push', 'workflow_dispatch'],
          },
          { ...MARKETING, targets: ['preview', 'staging'], refs: ['refs/heads/**', 'refs/pull/*/merge'] },
        ],
      },
      billing: {
        team_id: 'team_abc123',
        project_id: 'prj_billing',
        token_env: 'VERCEL_TOKEN_BILLING',
        allow: [
          {
            repository: 'acme/billing',
            repository_id: '555',
            repository_owner_id: '987654',
            targets: ['preview'],
          },
        ],
      },
    },
  };
}

const isPlainObject = (value: unknown): value is Record<string, unknown> =>
  typeof value === 'object' && value !== null && !Array.isArray(value);

function merge(base: Record<string, unknown>, overrides: Record<string, unknown>): Record<string, unknown> {
  const out: Record<string, unknown> = { ...base };
  for (const [key, value] of Object.entries(overrides)) {
    if (value === undefined) delete out[key];
    else if (isPlainObject(value) && isPlainObject(out[key]))
      out[key] = merge(out[key] as Record<string, unknown>, value);
    else out[key] = structuredClone(value);
  }
  return out;
}

/** `config` with `overrides` merged in (see Overrides); `config` itself is left as it was. */
export const withOverrides = (config: ConfigInput, overrides: ConfigOverrides = {}): ConfigInput =>
  merge(config as Record<string, unknown>, overrides) as ConfigInput;

/** The local world's config for `urls`, with `overrides` merged in. */
export const brokerConfig = (urls: WorldUrls = LOCAL_URLS, overrides: ConfigOverrides = {}): ConfigInput =>
  withOverrides(baseConfig(urls), overrides);

/**
 * The config as YAML, laid out as the docs write it: `projects` last, lists of values in flow
 * style, and ids, globs and workflow refs in double quotes. A config text may be extended by
 * appending top-level keys, or projects (indented two spaces) since `projects` comes last.
 */
export function toYaml(config: ConfigInput): string {
  const { projects, ...top } = config;
  const doc = new Document({ ...top, projects });
  visit(doc, {
    Seq(_, seq) {
      if (seq.items.every(isScalar)) seq.flow = true;
    },
    Scalar(_, scalar) {
      if (typeof scalar.value === 'string' && /^\d+$|[*@]/.test(scalar.value))
        scalar.type = Scalar.QUOTE_DOUBLE;
    },
  });
  return doc.toString({ flowCollectionPadding: false, lineWidth: 0 });
}

/** The config's YAML: `extra` is either text appended as is, or overrides merged in first. */
export function brokerYaml(urls: WorldUrls, extra: string | ConfigOverrides = ''): string {
  return typeof extra === 'string'
    ? `${toYaml(brokerConfig(urls))}${extra}`
    : toYaml(brokerConfig(urls, extra));
}

export const compiled = (text = brokerYaml(LOCAL_URLS)) => parseConfig(text, 'broker.yaml').config;
