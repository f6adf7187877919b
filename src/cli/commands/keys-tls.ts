/**
 * `dbtape keys tls`: a self-signed certificate and key for the client-facing listeners, so that a
 * first install needs neither openssl nor a CA. Written where the config's `tls.cert_file` /
 * `tls.key_file` say (or certs/dbtape.crt and certs/dbtape.key), never over an existing file. The
 * config is read as YAML only: the files it names do not exist yet, which a full load refuses.
 */
import { chmodSync, existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { dirname, isAbsolute, join, relative, resolve } from 'node:path';
import { parse } from 'yaml';
import { parseListenAddress } from '../../config/units.js';
import { CliError } from '../output.js';
import { checkCertName, LOOPBACK_NAMES, makeSelfSignedCert } from '../self-signed-cert.js';

const DEFAULT_CONFIG = 'dbtape.yaml';
const WILDCARDS = new Set(['0.0.0.0', '::', '']);

export interface TlsOptions {
  readonly config?: string;
  readonly cert?: string;
  readonly key?: string;
  readonly name?: readonly string[];
  readonly days?: string;
}

interface ConfigView {
  readonly source: string;
  readonly certFile: string | null;
  readonly keyFile: string | null;
  /** Specific listen hosts (not wildcards): clients connect to them by that name. */
  readonly listenHosts: readonly string[];
}

export function generateTls(opts: TlsOptions): void {
  const config = readConfigView(opts.config);
  const base = config ? dirname(config.source) : process.cwd();
  const certFile = resolve(opts.cert ?? config?.certFile ?? join(base, 'certs', 'dbtape.crt'));
  const keyFile = resolve(opts.key ?? config?.keyFile ?? join(base, 'certs', 'dbtape.key'));
  const days = parseDays(opts.days);
  const names = uniqueNames([...LOOPBACK_NAMES, ...(config?.listenHosts ?? []), ...(opts.name ?? [])]);
  const existing = [certFile, keyFile].filter((f) => existsSync(f));
  if (existing.length > 0) {
    throw new CliError(
      `${existing.join(', ')} already exist${existing.length === 1 ? 's' : ''}; dbtape never overwrites key files (nothing was written)`,
    );
  }
  const { certPem, keyPem } = makeSelfSignedCert({ commonName: 'dbtape', names, validDays: days });
  mkdirSync(dirname(certFile), { recursive: true });
  mkdirSync(dirname(keyFile), { recursive: true });
  writeFileSync(keyFile, keyPem, { mode: 0o600 });
  chmodSync(keyFile, 0o600);
  writeFileSync(certFile, certPem);
  const shownCert = shown(certFile, base);
  const out = [
    `wrote ${shown(keyFile, base)}: TLS private key (ECDSA P-256), mode 0600`,
    `wrote ${shownCert}: self-signed certificate for ${names.join(', ')}, valid ${days} days`,
  ];
  if (!config?.certFile || !config?.keyFile) {
    out.push(
      '',
      `add to ${config ? config.source : DEFAULT_CONFIG}:`,
      'tls:',
      `  cert_file: ${shownCert}`,
      `  key_file: ${shown(keyFile, base)}`,
    );
  }
  out.push(
    '',
    'clients that verify the server (recommended) trust this certificate as their root:',
    `  psql "postgresql://USER@HOST:PORT/TARGET?sslmode=verify-full&sslrootcert=${shownCert}"`,
    `  mysql --ssl-ca=${shownCert} --ssl-verify-server-cert -h HOST -P PORT -u USER -p TARGET`,
    'names other than these need --name (a certificate from your own CA works as well: point tls: at it)',
  );
  process.stdout.write(`${out.join('\n')}\n`);
}

function readConfigView(file: string | undefined): ConfigView | null {
  const path = file ?? (existsSync(DEFAULT_CONFIG) ? DEFAULT_CONFIG : null);
  if (path === null) return null;
  const source = resolve(path);
  let doc: unknown;
  try {
    doc = parse(readFileSync(source, 'utf8'));
  } catch (err) {
    throw new CliError(`cannot read the config ${path}: ${(err as Error).message.split('\n')[0]}`);
  }
  const root = isRecord(doc) ? doc : {};
  const tls = isRecord(root.tls) ? root.tls : {};
  const listen = isRecord(root.listen) ? root.listen : {};
  const base = dirname(source);
  const file_ = (v: unknown, key: string): string | null => {
    if (v === undefined || v === null) return null;
    if (typeof v !== 'string' || v.includes('${')) {
      throw new CliError(
        `${path}: tls.${key} is not a plain path; give the file with --${key.split('_')[0]}`,
      );
    }
    return isAbsolute(v) ? v : resolve(base, v);
  };
  const listenHosts: string[] = [];
  for (const v of Object.values(listen)) {
    const parsed = parseListenAddress(v);
    if (parsed.ok && !WILDCARDS.has(parsed.value.host)) listenHosts.push(parsed.value.host);
  }
  return {
    source,
    certFile: file_(tls.cert_file, 'cert_file'),
    keyFile: file_(tls.key_file, 'key_file'),
    listenHosts,
  };
}

function uniqueNames(names: readonly string[]): string[] {
  const out: string[] = [];
  for (const n of names) {
    let name: string;
    try {
      name = checkCertName(n.trim());
    } catch (err) {
      throw new CliError(`--name: ${(err as Error).message}`, 2);
    }
    if (!out.some((o) => o.toLowerCase() === name.toLowerCase())) out.push(name);
  }
  return out;
}

function parseDays(v: string | undefined): number {
  if (v === undefined) return 365;
  const n = Number(v);
  if (!Number.isInteger(n) || n < 1 || n > 3650)
    throw new CliError('--days takes a whole number from 1 to 3650', 2);
  return n;
}

function shown(path: string, base: string): string {
  const r = relative(base, path);
  return r && !r.startsWith('..') ? r : path;
}

function isRecord(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}
