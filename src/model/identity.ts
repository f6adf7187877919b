/** Identities, roles and targets as the rest of the code sees them once config is loaded. */

export type TargetTls = 'disable' | 'prefer' | 'require' | 'verify-full';
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
}
