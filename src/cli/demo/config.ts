import { randomBytes } from 'node:crypto';
import { parseConfigObject } from '../../config/load.js';
import type { Config } from '../../config/types.js';
import { hashPassword } from '../../config/verifiers.js';

/**
 * The demo's configuration, built in code and checked by the same loader as a dbtape.yaml, so the
 * demo runs exactly what `dbtape serve` would with this file:
 *
 *   listen:  { postgres: 127.0.0.1:6432, http: 127.0.0.1:8080 }
 *   tls:     { cert_file: <dir>/tls/demo.crt, key_file: <dir>/tls/demo.key }
 *   store:   { url: sqlite:<dir>/dbtape.db, capture_results: rows, signing_key_file: <dir>/keys/signing.key }
 *   targets: [{ name: demo, protocol: postgres, host: 127.0.0.1, port: <embedded>, tls: disable }]
 *   users:   demo (role admin: admin access to target demo, and the dashboard's admin),
 *            analyst (role analyst: read access to target demo, card numbers and emails masked),
 *            auditor (reserved role auditor: sees every session, reaches no database)
 */

export const DEMO_TARGET = 'demo';
export const DEMO_USER = 'demo';
export const ANALYST_USER = 'analyst';
export const AUDITOR_USER = 'auditor';
export const DEMO_HOST = '127.0.0.1';
const DEFAULT_PORTS = { postgres: 6432, http: 8080 } as const;

export interface DemoPorts {
  readonly postgres: number;
  /** Only when the demo has a MySQL target (it has none yet). */
  readonly mysql: number | null;
  readonly http: number;
}

/** SPEC.md: `--ports-from N` puts PostgreSQL on N, MySQL on N+1, the dashboard on N+2. */
export function demoPorts(portsFrom: number | null): DemoPorts {
  if (portsFrom === null) return { ...DEFAULT_PORTS, mysql: null };
  return { postgres: portsFrom, mysql: null, http: portsFrom + 2 };
}

export interface DemoCredentials {
  readonly demoPassword: string;
  readonly analystPassword: string;
  readonly auditorPassword: string;
}

/** Fresh random passwords; base64url, so they go into a connection URL without escaping. */
export function newCredentials(): DemoCredentials {
  return {
    demoPassword: randomBytes(12).toString('base64url'),
    analystPassword: randomBytes(12).toString('base64url'),
    auditorPassword: randomBytes(12).toString('base64url'),
  };
}

export interface DemoConfigInput {
  /** Absolute path of the demo folder. */
  readonly dir: string;
  readonly ports: DemoPorts;
  readonly certFile: string;
  readonly keyFile: string;
  /** The checkpoint signing key (store.signing_key_file). */
  readonly signingKeyFile: string;
  readonly upstream: {
    readonly host: string;
    readonly port: number;
    readonly database: string;
    readonly user: string;
  };
  readonly credentials: DemoCredentials;
  readonly logLevel: Config['log']['level'];
}

export function buildDemoConfig(input: DemoConfigInput): Config {
  const { ports, upstream, credentials } = input;
  const listen: Record<string, string> = {
    postgres: `${DEMO_HOST}:${ports.postgres}`,
    http: `${DEMO_HOST}:${ports.http}`,
  };
  if (ports.mysql !== null) listen.mysql = `${DEMO_HOST}:${ports.mysql}`;
  const data = {
    listen,
    tls: { cert_file: literal(input.certFile), key_file: literal(input.keyFile), require: false },
    store: {
      url: 'sqlite:dbtape.db',
      durability: 'fast',
      capture_results: 'rows',
      max_rows: 100,
      signing_key_file: literal(input.signingKeyFile),
    },
    targets: [
      {
        name: DEMO_TARGET,
        protocol: 'postgres',
        host: upstream.host,
        port: upstream.port,
        database: upstream.database,
        user: upstream.user,
        // The embedded database trusts loopback connections; the hop never leaves this process's host.
        tls: 'disable',
      },
    ],
    users: [
      { name: DEMO_USER, password: hashPassword(credentials.demoPassword), roles: ['admin'] },
      { name: ANALYST_USER, password: hashPassword(credentials.analystPassword), roles: [ANALYST_USER] },
      { name: AUDITOR_USER, password: hashPassword(credentials.auditorPassword), roles: ['auditor'] },
    ],
    roles: [
      { name: 'admin', targets: [DEMO_TARGET], access: 'admin' },
      // Shows the policy at work: reads only, card numbers and emails masked for the client and
      // in the recording alike.
      {
        name: ANALYST_USER,
        targets: [DEMO_TARGET],
        access: 'read',
        masking: { columns: ['payments.card_number', 'customers.email'], detectors: ['card', 'email'] },
      },
    ],
    log: { level: input.logLevel },
  };
  return parseConfigObject(data, { file: '<demo>', baseDir: input.dir, env: {}, source: '<demo>' });
}

/** The loader expands `${VAR}` in every string; a folder name could contain one. */
function literal(text: string): string {
  return text.replaceAll('${', '$${');
}
