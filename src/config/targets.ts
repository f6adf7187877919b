/** targets[]: upstream databases, with their injected credentials read from env or file. */
import type { Target } from '../model/identity.js';
import type { KeyPath } from './errors.js';
import { existingFile, type FileContext, readSecretFile } from './files.js';
import type { RawTarget } from './schema.js';

const DEFAULT_PORTS = { postgres: 5432, mysql: 3306 } as const;
const ENV_NAME = /^[A-Za-z_][A-Za-z0-9_]*$/;
/** Conventional variable names; anything else might be a password typed in the wrong key. */
const SAFE_TO_SHOW = /^[A-Z_][A-Z0-9_]*$/;

export interface TargetContext extends FileContext {
  readonly env: NodeJS.ProcessEnv;
  /** Don't read passwords (read commands never connect to a target): they resolve to null. */
  readonly forReading?: boolean;
}

export function resolveTargets(ctx: TargetContext, raw: readonly RawTarget[]): Target[] {
  const seen = new Map<string, number>();
  return raw.map((t, i) => {
    const at: KeyPath = ['targets', i];
    const first = seen.get(t.name);
    if (first !== undefined)
      ctx.issues.add([...at, 'name'], `duplicate target name "${t.name}" (see targets[${first}])`);
    else seen.set(t.name, i);
    return resolveTarget(ctx, t, at);
  });
}

function resolveTarget(ctx: TargetContext, t: RawTarget, at: KeyPath): Target {
  return {
    name: t.name,
    protocol: t.protocol,
    host: t.host,
    port: t.port ?? DEFAULT_PORTS[t.protocol],
    database: t.database ?? t.name,
    user: t.user,
    password: targetPassword(ctx, t, at),
    tls: t.tls,
    caFile: caFile(ctx, t, at),
    channelBinding: channelBinding(ctx, t, at),
  };
}

/** libpq's default, prefer; require only makes sense where there is TLS to bind to. */
function channelBinding(ctx: TargetContext, t: RawTarget, at: KeyPath): Target['channelBinding'] {
  const mode = t.channel_binding;
  if (mode === undefined) return 'prefer';
  if (t.protocol !== 'postgres') {
    ctx.issues.add(
      [...at, 'channel_binding'],
      'is for PostgreSQL targets (SCRAM channel binding); remove it',
    );
  } else if (mode === 'require' && t.tls === 'disable') {
    ctx.issues.add(
      [...at, 'channel_binding'],
      'require needs TLS to bind to: set tls to prefer, require or verify-full',
    );
  }
  return mode;
}

function targetPassword(ctx: TargetContext, t: RawTarget, at: KeyPath): string | null {
  if (t.password !== undefined) {
    // Never echo it: the whole point is that it should not be in this file.
    ctx.issues.add(
      [...at, 'password'],
      'inline passwords are not allowed in the config file: put the password in an environment variable ' +
        'named by password_env, or in a file named by password_file',
    );
  }
  if (t.password_env !== undefined && t.password_file !== undefined) {
    ctx.issues.add(at, 'set password_env or password_file, not both');
    return null;
  }
  if (ctx.forReading) return null;
  if (t.password_env !== undefined) return passwordFromEnv(ctx, t.password_env, [...at, 'password_env']);
  if (t.password_file !== undefined) return readSecretFile(ctx, t.password_file, [...at, 'password_file']);
  return null;
}

function passwordFromEnv(ctx: TargetContext, name: string, path: KeyPath): string | null {
  if (!ENV_NAME.test(name)) {
    ctx.issues.add(
      path,
      'must be the NAME of an environment variable that holds the password (value not shown)',
    );
    return null;
  }
  const value = ctx.env[name];
  if (value === undefined || value === '') {
    const which = SAFE_TO_SHOW.test(name)
      ? `environment variable ${name}`
      : 'the environment variable it names';
    ctx.issues.add(path, `${which} is ${value === undefined ? 'not set' : 'empty'}`);
    return null;
  }
  return value;
}

function caFile(ctx: TargetContext, t: RawTarget, at: KeyPath): string | null {
  if (t.ca_file === undefined) {
    if (t.tls === 'verify-full') {
      ctx.issues.add(
        [...at, 'ca_file'],
        'tls: verify-full needs ca_file, the CA certificate to verify the server with',
      );
    }
    return null;
  }
  if (t.tls === 'disable') {
    ctx.issues.add([...at, 'ca_file'], 'has no effect with tls: disable; remove it or enable TLS');
    return null;
  }
  return existingFile(ctx, t.ca_file, [...at, 'ca_file']);
}
