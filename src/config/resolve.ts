/** From the schema-checked file to the resolved Config: defaults, absolute paths, secrets, cross-checks. */

import type { Role, RoleMasking, RoleRules } from '../model/identity.js';
import { formatKeyPath, type IssueList } from './errors.js';
import { existingFile, type FileContext, resolvePath } from './files.js';
import { resolveRoles, resolveUsers } from './identities.js';
import type { RawConfig } from './schema.js';
import { resolveTargets } from './targets.js';
import type { Config, ListenAddress } from './types.js';

export interface ResolveContext extends FileContext {
  /** Absolute path of the config file, for Config.source. */
  readonly source: string;
  readonly env: NodeJS.ProcessEnv;
  readonly issues: IssueList;
  /** Read commands: target passwords are not read (see ParseOptions.forReading). */
  readonly forReading: boolean;
}

/** Without a `listen` key at all: the PostgreSQL listener and the dashboard, on loopback. */
const DEFAULT_LISTEN = {
  postgres: { host: '127.0.0.1', port: 6432 },
  mysql: null,
  http: { host: '127.0.0.1', port: 8080 },
} as const;

export function resolveConfig(ctx: ResolveContext, raw: RawConfig): Config {
  // In the file's order, so problems are reported top to bottom.
  const listen = resolveListen(ctx.issues, raw.listen);
  const tls = resolveTls(ctx, raw.tls);
  const storeUrl = resolveStoreUrl(ctx, raw.store.url);
  const targets = resolveTargets(ctx, raw.targets);
  const roles = withRolePolicies(raw.roles, resolveRoles(ctx.issues, raw.roles, targets));
  const users = resolveUsers(ctx.issues, raw.users, roles);
  return {
    source: ctx.source,
    listen,
    tls,
    http: {
      publicUrl: raw.http.public_url ?? null,
      trustedProxies: raw.http.trusted_proxies,
      forwardedHeader: raw.http.forwarded_header,
      allowedHosts: [...new Set(raw.http.allowed_hosts)],
    },
    limits: {
      maxClientConnections: raw.limits.max_client_connections,
      authTimeoutMs: raw.limits.auth_timeout,
      maxMessageSize: raw.limits.max_message_size,
      connectTimeoutMs: raw.limits.connect_timeout,
    },
    store: {
      record: raw.store.record,
      url: storeUrl,
      durability: raw.store.durability,
      captureResults: raw.store.capture_results,
      maxRows: raw.store.max_rows,
      encryptionKeyFile:
        raw.store.encryption_key_file === undefined ? null : resolvePath(ctx, raw.store.encryption_key_file),
      // Not checked for existence here: `dbtape keys generate -c FILE` reads the config to learn
      // where to create them. serve reports a missing file when it opens the store.
      signingKeyFile:
        raw.store.signing_key_file === undefined ? null : resolvePath(ctx, raw.store.signing_key_file),
      checkpointIntervalMs: raw.store.checkpoint_interval,
    },
    targets,
    users,
    roles,
    log: { level: raw.log.level },
  };
}

function resolveListen(issues: IssueList, raw: RawConfig['listen']): Config['listen'] {
  if (raw === undefined) return DEFAULT_LISTEN;
  const listen = { postgres: raw?.postgres ?? null, mysql: raw?.mysql ?? null, http: raw?.http ?? null };
  const enabled = Object.entries(listen).filter((e): e is [string, ListenAddress] => e[1] !== null);
  if (enabled.length === 0) {
    issues.add(['listen'], 'no listener is enabled: set at least one of postgres, mysql, http');
  }
  const byAddress = new Map<string, string>();
  for (const [name, a] of enabled) {
    const key = `${a.host}:${a.port}`;
    const other = byAddress.get(key);
    if (other !== undefined && a.port !== 0) {
      issues.add(['listen', name], `same address as ${formatKeyPath(['listen', other])}`);
    }
    byAddress.set(key, name);
  }
  return listen;
}

function resolveTls(ctx: ResolveContext, raw: RawConfig['tls']): Config['tls'] {
  const certFile =
    raw.cert_file === undefined ? null : existingFile(ctx, raw.cert_file, ['tls', 'cert_file']);
  const keyFile = raw.key_file === undefined ? null : existingFile(ctx, raw.key_file, ['tls', 'key_file']);
  if ((raw.cert_file === undefined) !== (raw.key_file === undefined)) {
    const missing = raw.cert_file === undefined ? 'cert_file' : 'key_file';
    ctx.issues.add(['tls', missing], 'is required when the other of cert_file/key_file is set');
  } else if (raw.require && raw.cert_file === undefined) {
    ctx.issues.add(
      ['tls', 'require'],
      'true needs tls.cert_file and tls.key_file (a certificate to offer clients)',
    );
  }
  return { certFile, keyFile, require: raw.require };
}

/**
 * `sqlite:PATH` (relative to the config file; `sqlite:///abs` also works) becomes `sqlite:/abs/path`;
 * `postgres://` / `postgresql://` URLs pass through. Errors never echo the URL: it may hold a password.
 */
function resolveStoreUrl(ctx: ResolveContext, url: string): string {
  if (url.startsWith('sqlite:')) {
    let p = url.slice('sqlite:'.length);
    if (p === ':memory:') return url;
    if (p.startsWith('//')) p = p.slice(2);
    if (p === '') {
      ctx.issues.add(['store', 'url'], 'sqlite: needs a file path, e.g. sqlite:data/dbtape.db');
      return url;
    }
    return `sqlite:${resolvePath(ctx, p)}`;
  }
  if (/^postgres(ql)?:\/\//.test(url)) {
    if (!URL.canParse(url) || new URL(url).hostname === '') {
      ctx.issues.add(['store', 'url'], 'is not a valid URL: expected postgres://user@host:5432/database');
    }
    return url;
  }
  ctx.issues.add(['store', 'url'], 'expected sqlite:PATH or postgres://user@host:5432/database');
  return url;
}

/** roles[].rules and roles[].masking (docs/policy.md), in camelCase; absent sections stay absent. */
function withRolePolicies(raw: RawConfig['roles'], roles: Role[]): Role[] {
  return roles.map((role, i) => {
    const r = raw[i]?.rules;
    const m = raw[i]?.masking;
    const out: { -readonly [K in keyof Role]: Role[K] } = { ...role };
    if (r) {
      const rules: RoleRules = {
        denyKinds: r.deny_kinds,
        denyTables: r.deny_tables,
        allowTables: r.allow_tables ?? null,
        requireWhere: r.require_where,
        maxRows: r.max_rows ?? null,
        denyFunctions: r.deny_functions,
        allowFunctions: r.allow_functions,
      };
      out.rules = rules;
    }
    if (m && (m.columns.length > 0 || m.detectors.length > 0)) {
      const masking: RoleMasking = { columns: m.columns, detectors: [...new Set(m.detectors)] };
      out.masking = masking;
    }
    return out;
  });
}
