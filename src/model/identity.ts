/** Identities, roles and targets as the rest of the code sees them once config is loaded. */

export type TargetTls = 'disable' | 'prefer' | 'require' | 'verify-full';
/** SCRAM channel binding towards a PostgreSQL target, as libpq's channel_binding. */
export type TargetChannelBinding = 'disable' | 'prefer' | 'require';
export type AccessLevel = 'read' | 'write' | 'admin';

export interface Target {
  readonly name: string;
  readonly protocol: 'postgres' | 'mysql';
  readonly host: string;
  readonly port: number;
  readonly database: string;
  readonly user: string;
  /** Resolved at load time from password_env / password_file; never logged. Null: no password. */
  readonly password: string | null;
  readonly tls: TargetTls;
  readonly caFile: string | null;
  readonly channelBinding: TargetChannelBinding;
}

/** Stored verifiers for one user; never the password itself. */
export interface Verifiers {
  /** PostgreSQL SCRAM-SHA-256 verifier, in pg_authid's format. */
  readonly scramSha256: ScramVerifier;
  /** SHA1(SHA1(password)), for mysql_native_password. */
  readonly mysqlNative: Buffer | null;
  /** SHA256(SHA256(password)), for caching_sha2_password's fast path. */
  readonly cachingSha2: Buffer | null;
}

export interface ScramVerifier {
  readonly iterations: number;
  readonly salt: Buffer;
  readonly storedKey: Buffer;
  readonly serverKey: Buffer;
}

export interface User {
  readonly name: string;
  readonly verifiers: Verifiers;
  readonly roles: readonly string[];
}

export interface Role {
  readonly name: string;
  readonly targets: readonly string[];
  readonly access: AccessLevel;
  /**
   * MySQL `LOAD DATA LOCAL INFILE` may pass the client's file to the server (roles[].local_infile).
   * Absent means false: dbtape then refuses the server's file request.
   */
  readonly localInfile?: boolean;
  /** Statement guardrails (roles[].rules); absent: only the access level applies. */
  readonly rules?: RoleRules;
  /** Result masking (roles[].masking); absent: results pass unchanged. */
  readonly masking?: RoleMasking;
}

/**
 * Statement kinds and commands a rule may name in `deny_kinds` (docs/policy.md). Kinds group
 * commands (`ddl` covers create, alter, drop, truncate, ...); either may be used.
 */
export const STATEMENT_KINDS = [
  'select',
  'insert',
  'update',
  'delete',
  'merge',
  'ddl',
  'copy',
  'set',
  'show',
  'explain',
  'transaction',
  'call',
  'do',
  'prepare',
  'execute',
  'deallocate',
  'grant',
  'load',
  'lock',
  'maintenance',
  'utility',
] as const;
export type StatementKind = (typeof STATEMENT_KINDS)[number];

export const STATEMENT_COMMANDS = [
  'create',
  'alter',
  'drop',
  'truncate',
  'rename',
  'comment',
  'refresh',
  'replace',
  'revoke',
  'reset',
  'discard',
  'vacuum',
  'analyze',
  'cluster',
  'reindex',
  'checkpoint',
  'notify',
  'listen',
  'use',
  'kill',
  'flush',
  'handler',
  'optimize',
  'repair',
  'check',
  'purge',
  'install',
  'uninstall',
  'shutdown',
  'unlock',
  'describe',
  'declare',
  'fetch',
  'begin',
  'commit',
  'rollback',
  'savepoint',
  'xa',
] as const;

/** roles[].rules, resolved. Patterns are lower-case; `*` matches any run of characters. */
export interface RoleRules {
  /** Statement kinds or commands (STATEMENT_KINDS, STATEMENT_COMMANDS) that are denied. */
  readonly denyKinds: readonly string[];
  /** `schema.table` patterns (a bare `table` means `*.table`) no statement may name. */
  readonly denyTables: readonly string[];
  /** When not null, every table a statement names must match one of these. */
  readonly allowTables: readonly string[] | null;
  /** UPDATE and DELETE need a WHERE clause that references a column. */
  readonly requireWhere: boolean;
  /** Rows a result may return to the client; null: no cap. */
  readonly maxRows: number | null;
  /** Function name patterns denied in addition to the built-in list. */
  readonly denyFunctions: readonly string[];
  /** Function names taken off the built-in deny list (never dynamic-SQL or file functions). */
  readonly allowFunctions: readonly string[];
}

export type MaskDetector = 'email' | 'card' | 'iban' | 'phone';

/** roles[].masking, resolved. */
export interface RoleMasking {
  /** `column`, `table.column` or `schema.table.column` patterns, lower-case, `*` wildcards. */
  readonly columns: readonly string[];
  /** Content detectors run on text values of every column. */
  readonly detectors: readonly MaskDetector[];
}
