/**
 * The shape of dbtape.yaml (SPEC.md, "Config file") as zod schemas. This checks the types and forms
 * of values, key by key; resolve.ts then applies the rules that span keys, files and secrets.
 * Objects are strict: an unknown key is an error, so a typo cannot silently drop a setting.
 */
import { z } from 'zod';
import { STATEMENT_COMMANDS, STATEMENT_KINDS } from '../model/identity.js';
import { parseAddressRange, parseAllowedHost, parseForwardedHeader, parsePublicUrl } from './http-values.js';
import type { ListenAddress } from './types.js';
import {
  type Parsed,
  parseBoolean,
  parseDuration,
  parseHost,
  parseInteger,
  parseListenAddress,
  parsePort,
  parseSize,
} from './units.js';

/** A zod schema from one of units.ts's parsers, so its problem text becomes the error message. */
function scalar<T>(parse: (v: unknown) => Parsed<T>) {
  return z.unknown().transform((v, ctx) => {
    if (v === undefined) {
      ctx.issues.push({ code: 'custom', message: 'is required', input: v });
      return z.NEVER;
    }
    const r = parse(v);
    if (r.ok) return r.value;
    ctx.issues.push({ code: 'custom', message: r.problem, input: v });
    return z.NEVER;
  });
}

/** YAML's `key:` with nothing after it is null; for a section that means "all defaults". */
function section<S extends z.ZodType>(schema: S) {
  return z.preprocess((v) => v ?? {}, schema);
}

/** A single name where a list is expected is taken as a list of one. */
function list<S extends z.ZodType>(item: S) {
  return z.preprocess((v) => (typeof v === 'string' ? [v] : (v ?? [])), z.array(item));
}

const NAME = /^[^\s\x00-\x1f\x7f]{1,63}$/;
const name = z
  .string()
  .regex(NAME, 'expected a name of 1-63 characters without spaces or control characters');
const nonEmpty = z.string().min(1, 'must not be empty');
const path = nonEmpty;
const listenAddress = scalar<ListenAddress | null>((v) =>
  v === null ? { ok: true, value: null } : parseListenAddress(v),
);

const listenShape = {
  postgres: listenAddress.optional(),
  mysql: listenAddress.optional(),
  http: listenAddress.optional(),
};

const tlsShape = {
  cert_file: path.optional(),
  key_file: path.optional(),
  require: scalar(parseBoolean).default(false),
};

const storeShape = {
  url: nonEmpty.default('sqlite:data/dbtape.db'),
  /** false: proxy without recording (access control only); also the benchmark's baseline. */
  record: scalar(parseBoolean).default(true),
  durability: z.enum(['fast', 'strict']).default('fast'),
  capture_results: z.enum(['none', 'summary', 'rows']).default('summary'),
  max_rows: scalar((v) => parseInteger(v, 0, 1_000_000)).default(100),
  encryption_key_file: path.optional(),
  /** Ed25519 private key (PEM) that signs checkpoints; made by `dbtape keys generate`. */
  signing_key_file: path.optional(),
  /** How often a signed checkpoint is written while anything is recorded. */
  checkpoint_interval: scalar(parseDuration).default(60_000),
};

/** The dashboard behind a TLS-terminating reverse proxy, and the Host names it answers to. */
const httpShape = {
  public_url: scalar(parsePublicUrl).optional(),
  trusted_proxies: list(scalar(parseAddressRange)).default([]),
  forwarded_header: scalar(parseForwardedHeader).default('x-forwarded-for'),
  allowed_hosts: list(scalar(parseAllowedHost)).default([]),
};

const limitsShape = {
  max_client_connections: scalar((v) => parseInteger(v, 1, 1_000_000)).default(1000),
  auth_timeout: scalar(parseDuration).default(10_000),
  max_message_size: scalar(parseSize).default(256 * 1024 * 1024),
  connect_timeout: scalar(parseDuration).default(10_000),
};

const logShape = {
  level: z.enum(['debug', 'info', 'warn', 'error']).default('info'),
};

const targetShape = {
  name,
  protocol: z.enum(['postgres', 'mysql']),
  host: scalar(parseHost),
  port: scalar((v) => parsePort(v)).optional(),
  database: nonEmpty.optional(),
  user: nonEmpty,
  /** Accepted by the schema only so resolve.ts can refuse it with a message that says what to do. */
  password: z.unknown().optional(),
  password_env: nonEmpty.optional(),
  password_file: path.optional(),
  tls: z.enum(['disable', 'prefer', 'require', 'verify-full']).default('prefer'),
  ca_file: path.optional(),
  channel_binding: z.enum(['disable', 'prefer', 'require']).optional(),
};

const userShape = {
  name,
  password: z.string(),
  roles: list(name).default([]),
};

/** A lower-cased `*` glob over dotted names: `payments.*`, `*.ssn`, `dblink*`. */
function dottedPattern(maxDots: number, example: string) {
  const re = new RegExp(`^[^\\s.]+(\\.[^\\s.]+){0,${maxDots}}$`);
  return z
    .string()
    .regex(re, `expected a name pattern such as ${example}`)
    .transform((v) => v.toLowerCase());
}

const ruleKind = z.preprocess(
  (v) => (typeof v === 'string' ? v.toLowerCase() : v),
  z.enum([...STATEMENT_KINDS, ...STATEMENT_COMMANDS]),
);

const rulesShape = {
  deny_kinds: list(ruleKind).default([]),
  deny_tables: list(dottedPattern(1, "payments.* or 'public.users'")).default([]),
  allow_tables: list(dottedPattern(1, "'public.*'")).optional(),
  require_where: scalar(parseBoolean).default(false),
  max_rows: scalar((v) => parseInteger(v, 1, 1_000_000_000)).optional(),
  deny_functions: list(dottedPattern(1, 'pg_sleep or dblink*')).default([]),
  allow_functions: list(dottedPattern(1, 'nextval')).default([]),
};

const maskingShape = {
  columns: list(dottedPattern(2, "email, customers.card_number or '*.ssn'")).default([]),
  detectors: list(z.enum(['email', 'card', 'iban', 'phone'])).default([]),
};

const roleShape = {
  name,
  targets: list(name).default([]),
  access: z.enum(['read', 'write', 'admin']).default('read'),
  /** MySQL LOAD DATA LOCAL INFILE: let the client's file reach the server (dbtape never reads files). */
  local_infile: scalar(parseBoolean).default(false),
  /** Statement guardrails (docs/policy.md). */
  rules: z.strictObject(rulesShape).nullable().optional(),
  /** Result masking (docs/policy.md). */
  masking: z.strictObject(maskingShape).nullable().optional(),
};

const topShape = {
  listen: z.strictObject(listenShape).nullable().optional(),
  http: section(z.strictObject(httpShape)),
  tls: section(z.strictObject(tlsShape)),
  store: section(z.strictObject(storeShape)),
  limits: section(z.strictObject(limitsShape)),
  log: section(z.strictObject(logShape)),
  targets: list(z.strictObject(targetShape)),
  users: list(z.strictObject(userShape)),
  roles: list(z.strictObject(roleShape)),
};

export const configFileSchema = z.strictObject(topShape);

/** The file's content after schema checks: snake_case keys, values parsed, defaults in. */
export type RawConfig = z.output<typeof configFileSchema>;
export type RawTarget = RawConfig['targets'][number];

/**
 * Known keys by path pattern (list indexes as `[]`), for "did you mean" hints on unknown keys.
 * Built from the same shapes as the schema so the two cannot drift.
 */
export const KNOWN_KEYS: Readonly<Record<string, readonly string[]>> = {
  '': Object.keys(topShape),
  listen: Object.keys(listenShape),
  http: Object.keys(httpShape),
  tls: Object.keys(tlsShape),
  store: Object.keys(storeShape),
  limits: Object.keys(limitsShape),
  log: Object.keys(logShape),
  'targets[]': Object.keys(targetShape).filter((k) => k !== 'password'),
  'users[]': Object.keys(userShape),
  'roles[]': Object.keys(roleShape),
  'roles[].rules': Object.keys(rulesShape),
  'roles[].masking': Object.keys(maskingShape),
};
