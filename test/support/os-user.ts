import { execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';

/** uid/gid of a system account, for spawning a server as it. */
export interface OsUser {
  readonly name: string;
  readonly uid: number;
  readonly gid: number;
  readonly home: string;
}

export function isRoot(): boolean {
  return typeof process.getuid === 'function' && process.getuid() === 0;
}

/** Looks an account up in /etc/passwd; throws naming the package that creates it. */
export function lookupOsUser(name: string, createdBy: string): OsUser {
  const line = readFileSync('/etc/passwd', 'utf8')
    .split('\n')
    .find((l) => l.startsWith(`${name}:`));
  if (!line) {
    throw new Error(
      `the OS user '${name}' does not exist; it is needed to run the server as non-root ` +
        `(it comes with the Debian package '${createdBy}')`,
    );
  }
  const fields = line.split(':');
  return { name, uid: Number(fields[2]), gid: Number(fields[3]), home: fields[5] ?? '/' };
}

/**
 * PostgreSQL (initdb, postgres) and pgbouncer refuse to run as root, and mariadbd wants --user.
 * When we are root, servers run as their Debian system account via spawn's uid/gid (libuv also drops
 * supplementary groups); otherwise they run as us. Returns the account to use, or null for "as is".
 */
export function serverUser(name: string, createdBy: string): OsUser | null {
  return isRoot() ? lookupOsUser(name, createdBy) : null;
}

/** spawn() options that run a child as `user` (or as ourselves when null). */
export function spawnAs(user: OsUser | null): { uid?: number; gid?: number } {
  return user ? { uid: user.uid, gid: user.gid } : {};
}

/** Hands a folder we created to the server's account (recursive). */
export function chownTo(dir: string, user: OsUser | null): void {
  if (user) execFileSync('chown', ['-R', `${user.uid}:${user.gid}`, dir]);
}
