import { isPortOpen } from './ports.js';

/**
 * The machine's own database servers, which `npm test` guarantees (scripts/run-tests.mjs starts
 * throwaway ones on these ports when nothing answers there).
 */
export const MACHINE_PG = {
  host: '127.0.0.1',
  port: 5432,
  /** Trust authentication; `postgres` also exists. */
  user: 'root',
  database: 'test',
} as const;

export const MACHINE_MARIADB = {
  host: '127.0.0.1',
  port: 3306,
  user: 'root',
  password: '',
  database: 'test',
} as const;

/** Throws a clear error when the machine's PostgreSQL does not answer (never skip a test for it). */
export async function requireMachinePg(): Promise<typeof MACHINE_PG> {
  await requireListening(MACHINE_PG.host, MACHINE_PG.port, 'PostgreSQL', 'postgresql');
  return MACHINE_PG;
}

/** Throws a clear error when the machine's MariaDB does not answer. */
export async function requireMachineMariaDb(): Promise<typeof MACHINE_MARIADB> {
  await requireListening(MACHINE_MARIADB.host, MACHINE_MARIADB.port, 'MariaDB', 'mariadb-server');
  return MACHINE_MARIADB;
}

async function requireListening(host: string, port: number, name: string, debPackage: string): Promise<void> {
  if (await isPortOpen(host, port, 2000)) return;
  throw new Error(
    `${name} is not answering on ${host}:${port}. Run the tests with \`npm test\`, which starts a ` +
      `throwaway server there from the installed binaries (Debian package '${debPackage}').`,
  );
}
