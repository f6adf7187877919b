/**
 * `dbtape check-config [-c FILE]`: validate the config and say, in plain words, what dbtape would do
 * with it. It never prints a secret: target passwords show only as set or not, store URLs are redacted.
 */
import type { Command } from 'commander';
import { loadConfig } from '../../config/load.js';
import type { Config, ListenAddress } from '../../config/types.js';
import { formatDuration, formatListenAddress, formatSize } from '../../config/units.js';
import { loadKeyring } from '../../integrity/keyring.js';
import { loadSigner } from '../../integrity/signing-key.js';
import type { AccessLevel, Target, User } from '../../model/identity.js';
import { grantsOf } from '../../policy/access.js';
import { checkStoreUrl } from '../../store/open-store.js';
import { CliError, columns } from '../output.js';
import { httpRows, httpWarnings } from './check-config-http.js';

export function registerCheckConfig(program: Command): void {
  program
    .command('check-config')
    .description('validate the config file and say what dbtape would do with it')
    .option('-c, --config <file>', 'config file', 'dbtape.yaml')
    .action((opts: { config: string }) => {
      // A ConfigError propagates to main, which prints it (file, key path, problem) and exits 1.
      const config = loadConfig(opts.config);
      const problems = storeProblems(config);
      if (problems.length > 0) throw new CliError(problems.map((p) => `${opts.config}: ${p}`).join('\n'));
      process.stdout.write(`${describeConfig(config, opts.config).join('\n')}\n`);
    });
}

/**
 * What the config's schema cannot see but `dbtape serve` refuses at start: a store URL it cannot
 * open, key files it cannot read (only when it records). One `key.path: problem` line each.
 */
export function storeProblems(config: Config): string[] {
  const problems: string[] = [];
  const check = (key: string, work: () => unknown): void => {
    try {
      work();
    } catch (err) {
      problems.push(`${key}: ${(err as Error).message.replace(/^dbtape: /, '')}`);
    }
  };
  const { store } = config;
  // Without recording, serve opens no store and reads no key.
  if (!store.record) return problems;
  check('store.url', () => checkStoreUrl(store.url));
  if (store.encryptionKeyFile)
    check('store.encryption_key_file', () => loadKeyring(store.encryptionKeyFile!));
  if (store.signingKeyFile) check('store.signing_key_file', () => loadSigner(store.signingKeyFile!));
  return problems;
}

/** The summary check-config prints, one string per line. */
export function describeConfig(config: Config, file: string): string[] {
  const lines = [`${file} is valid. dbtape would:`, ''];
  lines.push(...columns(settingRows(config)), '');
  lines.push(`targets (${config.targets.length})`);
  lines.push(...(config.targets.length ? config.targets.map((t) => `  ${describeTarget(t)}`) : ['  (none)']));
  lines.push('', `users (${config.users.length})`);
  lines.push(...(config.users.length ? config.users.flatMap((u) => describeUser(config, u)) : ['  (none)']));
  const warnings = warningsFor(config);
  if (warnings.length > 0) lines.push('', 'warnings', ...warnings.map((w) => `  - ${w}`));
  return lines;
}

function settingRows(config: Config): string[][] {
  const { listen, tls, store, limits } = config;
  const listener = (name: string, a: ListenAddress | null, what: string) =>
    a ? [`listen ${name}`, formatListenAddress(a), what] : [`listen ${name}`, 'off'];
  const tlsText =
    tls.certFile && tls.keyFile
      ? `cert ${tls.certFile}, key ${tls.keyFile}, ${tls.require ? 'required for every client' : 'optional for clients'}`
      : 'off (no tls.cert_file/key_file): clients connect without TLS';
  const capture =
    store.captureResults === 'rows' ? `rows (first ${store.maxRows} rows)` : store.captureResults;
  return [
    listener('postgres', listen.postgres, 'PostgreSQL clients'),
    listener('mysql', listen.mysql, 'MySQL/MariaDB clients'),
    // serve ignores listen.http without recording: the dashboard only shows recordings.
    store.record
      ? listener('http', listen.http, 'dashboard, API, /metrics, /healthz')
      : listener(
          'http',
          listen.http,
          'ignored: no dashboard, API or /metrics without recording (store.record: false)',
        ),
    ...httpRows(config),
    ['client TLS', tlsText],
    ['store', redactUrl(store.url)],
    ['', `durability ${store.durability}, capture_results ${capture}`],
    [
      '',
      store.encryptionKeyFile ? `encrypted at rest, key ${store.encryptionKeyFile}` : 'not encrypted at rest',
    ],
    [
      '',
      store.signingKeyFile
        ? `signed checkpoints every ${formatDuration(store.checkpointIntervalMs)}, key ${store.signingKeyFile}`
        : 'no signed checkpoints (no store.signing_key_file): hash chains only',
    ],
    [
      'limits',
      `max_client_connections ${limits.maxClientConnections}, auth_timeout ${formatDuration(limits.authTimeoutMs)}, ` +
        `max_message_size ${formatSize(limits.maxMessageSize)}, connect_timeout ${formatDuration(limits.connectTimeoutMs)}`,
    ],
    ['log level', config.log.level],
  ];
}

/** `name (protocol) -> user@host:port/database tls=…`, and whether a password is set (never which). */
export function describeTarget(t: Target): string {
  const where = formatListenAddress({ host: t.host, port: t.port });
  const ca = t.caFile ? ` ca_file=${t.caFile}` : '';
  const password = t.password === null ? 'no password' : 'password set';
  const binding = t.channelBinding === 'prefer' ? '' : ` channel_binding=${t.channelBinding}`;
  return `${t.name} (${t.protocol}) -> ${t.user}@${where}/${t.database} tls=${t.tls}${ca}${binding} (${password})`;
}

const RESERVED_ROLE_MEANING: Record<string, string> = {
  auditor: 'auditor: may see every session',
  admin: 'admin: may see every session, end live ones, create API tokens and manage keys',
};

/** Each target a user reaches, with the highest access any of their roles grants there. */
/** Each target the user may reach and the access it gets, decided by the same code the proxy uses. */
export function reachableTargets(config: Config, user: User): Map<string, AccessLevel> {
  return new Map(grantsOf(user, config.targets, config.roles).map((g) => [g.target.name, g.access]));
}

function describeUser(config: Config, user: User): string[] {
  const lines = [`  ${user.name}  roles: ${user.roles.length ? user.roles.join(', ') : '(none)'}`];
  const mysql = user.verifiers.mysqlNative || user.verifiers.cachingSha2;
  lines.push(`    signs in over: ${mysql ? 'PostgreSQL and MySQL' : 'PostgreSQL only'}`);
  for (const role of user.roles) {
    if (RESERVED_ROLE_MEANING[role]) lines.push(`    ${RESERVED_ROLE_MEANING[role]}`);
  }
  const reach = reachableTargets(config, user);
  if (reach.size === 0) lines.push('    reaches no target');
  const protocolOf = new Map(config.targets.map((t) => [t.name, t.protocol]));
  lines.push(
    ...columns(
      [...reach].map(([t, access]) => [t, `(${protocolOf.get(t)})`, access]),
      '    reaches ',
    ),
  );
  return lines;
}

function isLoopback(a: ListenAddress): boolean {
  return a.host === 'localhost' || a.host === '::1' || a.host.startsWith('127.');
}

function warningsFor(config: Config): string[] {
  const warnings: string[] = [];
  for (const name of ['postgres', 'mysql'] as const) {
    const a = config.listen[name];
    if (a && !isLoopback(a) && !config.tls.require) {
      warnings.push(
        `listen.${name} is reachable from other hosts and tls.require is false: clients may skip TLS`,
      );
    }
  }
  warnings.push(...httpWarnings(config));
  if (config.users.length === 0) warnings.push('no users: nobody can sign in');
  for (const user of config.users) {
    const reservedOnly = user.roles.some((r) => r in RESERVED_ROLE_MEANING);
    if (reachableTargets(config, user).size === 0 && !reservedOnly) {
      warnings.push(`user ${user.name} reaches no target`);
    }
    if (!user.verifiers.mysqlNative && config.targets.some((t) => t.protocol === 'mysql')) {
      warnings.push(
        `user ${user.name} has no MySQL verifier: rerun \`dbtape user hash\` to sign in to MySQL targets`,
      );
    }
  }
  const reached = new Set(config.roles.flatMap((r) => r.targets));
  for (const t of config.targets) {
    if (!reached.has(t.name)) warnings.push(`target ${t.name} is in no role: no user can reach it`);
  }
  return warnings;
}

/** Hide a password in a store URL. */
function redactUrl(url: string): string {
  if (!URL.canParse(url) || url.startsWith('sqlite:')) return url;
  const u = new URL(url);
  if (u.password) u.password = '***';
  return u.toString();
}
