/**
 * The shape of dbtape.yaml (SPEC.md, "Config file") as zod schemas. This checks the types and forms
 * of values, key by key; resolve.ts then applies the rules that span keys, files and secrets.
 * Objects are strict: an unknown key is an error, so a typo cannot silently drop a setting.
 */
import { z } from 'zod';
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
  /** false: proxy without recording (access control only); also the benchmark's baseline. */
  record: scalar(parseBoolean).default(true),
  url: nonEmpty.default('sqlite:data/dbtape.db'),
  durability: z.enum(['fast', 'strict']).default('fast'),
  capture_results: z.enum(['none', 'summary', 'rows']).default('summary'),
  max_rows: scalar((v) => parseInteger(v, 0, 1_000_000)).default(100),
  encryption_key_file: path.optional(),
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
};

const userShape = {
  name,
  password: z.string(),
  roles: list(name).default([]),
};

const roleShape = {
  name,
  targets: list(name).default([]),
  access: z.enum(['read', 'write', 'admin']).default('read'),
};

const topShape = {
  listen: z.strictObject(listenShape).nullable().optional(),
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
  tls: Object.keys(tlsShape),
  store: Object.keys(storeShape),
  limits: Object.keys(limitsShape),
  log: Object.keys(logShape),
  'targets[]': Object.keys(targetShape).filter((k) => k !== 'password'),
  'users[]': Object.keys(userShape),
  'roles[]': Object.keys(roleShape),
};
