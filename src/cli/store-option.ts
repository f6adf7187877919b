/**
 * What the read commands (sessions, show, replay, search, export, verify) share: where the store
 * is (`--store URL`, else the config's store.url from `-c FILE`, default ./dbtape.yaml), opening
 * it read-only with the config's encryption key, finding a session by id or unique id prefix, and
 * parsing --since / --limit.
 *
 * Read commands never connect to a target, so the config is loaded without target passwords
 * (loadConfigForReading): their environment variables need not be set here.
 */
import { existsSync } from 'node:fs';
import { type Command, InvalidArgumentError } from 'commander';
import { loadConfigForReading } from '../config/load.js';
import type { Config } from '../config/types.js';
import { safeLine } from '../replay/session-renderer.js';
import { openStoreForReading, sqlitePathFromUrl } from '../store/open-store.js';
import type { SessionStore, SessionSummary } from '../store/session-store.js';
import { CliError } from './output.js';

export interface StoreOptions {
  readonly store?: string;
  readonly config?: string;
}

const DEFAULT_CONFIG = 'dbtape.yaml';

export function addStoreOptions(cmd: Command): Command {
  return cmd
    .option(
      '--store <url>',
      'session store to read, e.g. sqlite:data/dbtape.db or postgres://user@host:5432/dbtape (default: store.url of the config)',
    )
    .option('-c, --config <file>', `config file whose store to read (default: ${DEFAULT_CONFIG})`);
}

/** The store URL and, for messages, where it came from. */
export function storeUrlFrom(opts: StoreOptions): { url: string; from: string } {
  if (opts.store) return { url: opts.store, from: '--store' };
  const file = opts.config ?? DEFAULT_CONFIG;
  if (opts.config === undefined && !existsSync(file)) {
    throw new CliError(
      `no session store given and no ${DEFAULT_CONFIG} here: pass --store sqlite:PATH (or postgres://...), or -c FILE to read the store of that config`,
    );
  }
  return { url: readConfig(file).store.url, from: `store.url in ${file}` };
}

/**
 * The config a read command takes keys from: `-c FILE`, or ./dbtape.yaml when neither -c nor
 * --store was given (with only --store, no config is read: the store may be another machine's).
 */
export function readCommandConfig(opts: StoreOptions): Config | null {
  if (opts.config) return readConfig(opts.config);
  if (!opts.store && existsSync(DEFAULT_CONFIG)) return readConfig(DEFAULT_CONFIG);
  return null;
}

const loaded = new Map<string, Config>();

/** A broken config is reported by loadConfig: file, key path, problem. Loaded once per file. */
function readConfig(file: string): Config {
  let config = loaded.get(file);
  if (!config) {
    config = loadConfigForReading(file);
    loaded.set(file, config);
  }
  return config;
}

/**
 * Opens the store read-only for `fn` and closes it afterwards. With the config's
 * store.encryption_key_file, encrypted recordings read transparently; without it they fail
 * with DBTAPE_STORE_ENCRYPTED, naming the key to give.
 */
export async function withStore<T>(opts: StoreOptions, fn: (store: SessionStore) => Promise<T>): Promise<T> {
  const { url, from } = storeUrlFrom(opts);
  const encryptionKeyFile = readCommandConfig(opts)?.store.encryptionKeyFile ?? null;
  if (/^sqlite:/i.test(url) && !/^sqlite:(\/\/)?:memory:$/i.test(url)) {
    const path = sqlitePathFromUrl(url);
    if (!existsSync(path)) {
      throw new CliError(
        `no session store at ${path} (${from}): nothing was recorded there yet, or the path is wrong`,
      );
    }
  }
  const store = openStoreForReading(url, { encryptionKeyFile });
  try {
    return await fn(store);
  } finally {
    await store.close();
  }
}

/**
 * A session by its id or by a prefix of it that only one session has (ids start with their
 * creation time, so the first characters tell sessions of different times apart).
 */
export async function findSession(store: SessionStore, idOrPrefix: string): Promise<SessionSummary> {
  const exact = await store.getSession(idOrPrefix);
  if (exact) return exact;
  const shown = safeLine(idOrPrefix);
  if (idOrPrefix.length < 4)
    throw new CliError(`no session ${shown}: give the id, or at least 4 of its first characters`);
  const matches: SessionSummary[] = [];
  let before: SessionSummary | undefined;
  for (;;) {
    const page = await store.listSessions({ limit: 10_000, before });
    matches.push(...page.filter((s) => s.id.startsWith(idOrPrefix)));
    if (matches.length > 5 || page.length < 10_000) break;
    before = page[page.length - 1];
  }
  if (matches.length === 1) return matches[0]!;
  if (matches.length === 0) throw new CliError(`no session ${shown} (see dbtape sessions)`);
  const some = matches.slice(0, 5).map((s) => safeLine(s.id));
  throw new CliError(
    `${shown} matches several sessions (${some.join(', ')}${matches.length > 5 ? ', …' : ''}): give more of the id`,
  );
}

const UNITS_US: Record<string, number> = {
  s: 1e6,
  m: 60e6,
  h: 3600e6,
  d: 86_400e6,
  w: 604_800e6,
};

/** A span such as 30s, 15m, 2h, 7d or 1w, in microseconds. */
export function parseSpanUs(text: string): number | null {
  const m = /^\s*(\d+(?:\.\d+)?)\s*(ms|s|m|h|d|w)\s*$/i.exec(text);
  if (!m) return null;
  const unit = m[2]!.toLowerCase();
  return Math.round(Number(m[1]) * (unit === 'ms' ? 1000 : UNITS_US[unit]!));
}

/** `--since`: a span back from now (30s, 15m, 2h, 7d) or an ISO-8601 time; microseconds since the epoch. */
export function parseSince(text: string, nowUs = Date.now() * 1000): number {
  const span = parseSpanUs(text);
  if (span !== null) return nowUs - span;
  if (/^\d{4}-\d{2}-\d{2}/.test(text)) {
    const ms = Date.parse(text);
    if (Number.isFinite(ms)) return ms * 1000;
  }
  throw new InvalidArgumentError(
    'expected a span such as 30s, 15m, 2h or 7d, or an ISO time such as 2025-01-31T12:00:00Z.',
  );
}

export function limitParser(max: number): (value: string) => number {
  return (value) => {
    const n = Number(value);
    if (!/^\d+$/.test(value) || n < 1 || n > max)
      throw new InvalidArgumentError(`expected a whole number from 1 to ${max}.`);
    return n;
  };
}

export function nowUs(): number {
  return Date.now() * 1000;
}
