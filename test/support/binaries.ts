import { accessSync, constants, existsSync, readdirSync } from 'node:fs';
import path from 'node:path';

/** Where Debian keeps the PostgreSQL server binaries (initdb and postgres are not on PATH there). */
const PG_LIB = '/usr/lib/postgresql';

/**
 * Absolute path of an executable, or throws an error naming the Debian package to install.
 * Integration tests call this instead of skipping: a missing server must fail loudly.
 */
export function requireBinary(name: string, debPackage: string, extraDirs: readonly string[] = []): string {
  const found = findBinary(name, extraDirs);
  if (found) return found;
  throw new Error(
    `required program '${name}' was not found on PATH${extraDirs.length ? ` or in ${extraDirs.join(', ')}` : ''}: ` +
      `install the Debian package '${debPackage}' (apt-get install -y ${debPackage})`,
  );
}

/** Absolute path of an executable in `extraDirs` (searched first), the sbin folders or PATH; null if none. */
export function findBinary(name: string, extraDirs: readonly string[] = []): string | null {
  const pathDirs = (process.env.PATH ?? '').split(path.delimiter).filter(Boolean);
  for (const dir of [...extraDirs, ...pathDirs, '/usr/sbin', '/sbin', '/usr/local/sbin']) {
    const candidate = path.join(dir, name);
    if (isExecutable(candidate)) return candidate;
  }
  return null;
}

/**
 * The newest installed PostgreSQL server bin folder (e.g. /usr/lib/postgresql/15/bin), or [] when the
 * server is only on PATH. PG_BINDIR overrides.
 */
export function pgBinDirs(): string[] {
  if (process.env.PG_BINDIR) return [process.env.PG_BINDIR];
  if (!existsSync(PG_LIB)) return [];
  const versions = readdirSync(PG_LIB)
    .filter((v) => /^\d+$/.test(v) && existsSync(path.join(PG_LIB, v, 'bin', 'initdb')))
    .sort((a, b) => Number(b) - Number(a));
  return versions.map((v) => path.join(PG_LIB, v, 'bin'));
}

/** A PostgreSQL server program (initdb, pg_ctl, postgres, psql, pgbench) or a clear error. */
export function requirePgBinary(name: string, debPackage = 'postgresql'): string {
  return requireBinary(name, debPackage, pgBinDirs().slice(0, 1));
}

function isExecutable(file: string): boolean {
  try {
    accessSync(file, constants.X_OK);
    return true;
  } catch {
    return false;
  }
}

/** A file a Debian package installs (a JDBC driver's jar), or an error naming the package. */
export function requirePackageFile(file: string, debPackage: string): string {
  if (existsSync(file)) return file;
  throw new Error(
    `required file '${file}' is missing: install the Debian package '${debPackage}' (apt-get install -y ${debPackage})`,
  );
}
