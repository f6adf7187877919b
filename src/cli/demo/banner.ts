import { isAbsolute, relative } from 'node:path';

/**
 * What the demo prints once it is up: how to connect, how to list and replay sessions, where the
 * dashboard is. Every command is printed ready to copy. The last line starts with "ready", which
 * scripts (and the e2e test) wait for.
 */

export interface BannerInput {
  readonly pgAddress: { readonly host: string; readonly port: number };
  /** null: this build has no dashboard yet. */
  readonly dashboardUrl: string | null;
  readonly configuredDashboard: string;
  readonly target: string;
  readonly demoUser: string;
  readonly demoPassword: string;
  readonly analystUser: string;
  readonly analystPassword: string;
  readonly auditorUser: string;
  readonly auditorPassword: string;
  /** Absolute path of the demo folder and of the certificate. */
  readonly dir: string;
  readonly certFile: string;
  /** The public key of the checkpoint signing key, absolute. */
  readonly publicKeyFile: string;
  /** The store's file, absolute. */
  readonly storeFile: string;
  readonly recording: boolean;
  readonly sample: { readonly sessionId: string | null; readonly statements: number } | null;
  readonly upstreamVersion: string;
  readonly startupMs: number;
  readonly cwd: string;
}

export function banner(b: BannerInput): string {
  const { host, port } = b.pgAddress;
  const url = `postgresql://${b.demoUser}:${b.demoPassword}@${host}:${port}/${b.target}`;
  const analystUrl = `postgresql://${b.analystUser}:${b.analystPassword}@${host}:${port}/${b.target}`;
  const store = `sqlite:${shortPath(b.storeFile, b.cwd)}`;
  const sampleId = b.sample?.sessionId ?? '<id>';
  const lines = [
    '',
    'dbtape demo',
    '',
    `  Upstream   embedded PGlite (${shortVersion(b.upstreamVersion)}), sample tables customers, orders, payments`,
    `  Proxy      PostgreSQL protocol on ${host}:${port}, TLS with a self-signed certificate`,
    `  Folder     ${shortPath(b.dir, b.cwd)}`,
    '',
    'Connect:',
    `  psql "${url}?sslmode=require"`,
    `  (to verify the certificate too: sslmode=verify-full&sslrootcert=${shortPath(b.certFile, b.cwd)})`,
    `  psql "${analystUrl}?sslmode=require"`,
    '  (read-only, card numbers and emails masked: try select * from payments, or an update)',
    '',
    'Sign-ins (they also open the dashboard):',
    `  ${b.demoUser.padEnd(8)} ${b.demoPassword}   admin of target "${b.target}" and of the dashboard`,
    `  ${b.analystUser.padEnd(8)} ${b.analystPassword}   reads target "${b.target}" with card numbers and emails masked`,
    `  ${b.auditorUser.padEnd(8)} ${b.auditorPassword}   auditor: sees every session, reaches no database`,
    '',
    'Sessions and replay:',
    `  npx dbtape sessions --store ${store}`,
    `  npx dbtape replay ${sampleId} --store ${store}`,
    `  npx dbtape search "orders" --store ${store}`,
    `  npx dbtape verify --all --store ${store} --public-key ${shortPath(b.publicKeyFile, b.cwd)}`,
  ];
  if (b.sample) {
    lines.push(
      `  A sample session (${b.sample.statements} statements) ran through the proxy at start` +
        (b.sample.sessionId ? `: session ${b.sample.sessionId}.` : '.'),
    );
  }
  if (!b.recording) lines.push('  (recording is not available in this build yet: the store stays empty)');
  lines.push('', 'Dashboard:');
  lines.push(
    b.dashboardUrl
      ? `  ${b.dashboardUrl}`
      : `  http://${b.configuredDashboard} (not available in this build yet)`,
  );
  lines.push(
    '',
    `ready in ${(b.startupMs / 1000).toFixed(1)} s: dbtape demo is running. Press Ctrl-C to stop.`,
    '',
  );
  return lines.join('\n');
}

/** Relative to the working directory when inside it (what the user typed), absolute otherwise. */
function shortPath(p: string, cwd: string): string {
  const rel = relative(cwd, p);
  return rel === '' ? '.' : rel.startsWith('..') || isAbsolute(rel) ? p : rel;
}

/** "PostgreSQL 18.6 (PGlite 0.5.14) on wasm32-..." → "PostgreSQL 18.6 (PGlite 0.5.14)". */
function shortVersion(version: string): string {
  return version.split(' on ')[0];
}
