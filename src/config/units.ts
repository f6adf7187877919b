/**
 * Parsing of the config file's scalar forms: addresses, ports, durations, sizes, booleans.
 * Values arrive as YAML scalars or as strings (after `${VAR}` expansion), so numbers in strings count.
 * Each parser returns the value or a problem text for the error message.
 */
import type { ListenAddress } from './types.js';

export type Parsed<T> = { ok: true; value: T } | { ok: false; problem: string };

const ok = <T>(value: T): Parsed<T> => ({ ok: true, value });
const fail = (problem: string): Parsed<never> => ({ ok: false, problem });

/** Shows a user's value in an error, shortened; only for fields that never hold secrets. */
export function shown(v: unknown): string {
  const s = typeof v === 'string' ? JSON.stringify(v) : String(v);
  return s.length > 60 ? `${s.slice(0, 57)}...` : s;
}

function integerOf(v: unknown): number | null {
  if (typeof v === 'number') return Number.isInteger(v) ? v : null;
  if (typeof v === 'string' && /^\s*[0-9]+\s*$/.test(v)) return Number(v);
  return null;
}

export function parsePort(v: unknown, opts: { allowZero?: boolean } = {}): Parsed<number> {
  const n = integerOf(v);
  if (n === null || n < (opts.allowZero ? 0 : 1) || n > 65535) {
    const zero = opts.allowZero ? ' (or 0: any free port)' : '';
    return fail(`expected a port number 1-65535${zero}, got ${shown(v)}`);
  }
  return ok(n);
}

export function parseInteger(v: unknown, min: number, max: number): Parsed<number> {
  const n = integerOf(v);
  if (n === null || n < min || n > max) return fail(`expected a whole number ${min}-${max}, got ${shown(v)}`);
  return ok(n);
}

export function parseBoolean(v: unknown): Parsed<boolean> {
  if (typeof v === 'boolean') return ok(v);
  if (v === 'true') return ok(true);
  if (v === 'false') return ok(false);
  return fail(`expected true or false, got ${shown(v)}`);
}

const HOST_NAME = /^[A-Za-z0-9_]([A-Za-z0-9_.-]*[A-Za-z0-9_])?$/;
const IPV6 = /^[0-9A-Fa-f:.]+(%[A-Za-z0-9_.-]+)?$/;

/**
 * "host:port" or "[ipv6]:port". Port 0 (any free port) is allowed for listeners, which tests use.
 */
export function parseListenAddress(v: unknown): Parsed<ListenAddress> {
  const form = 'expected "host:port" (for IPv6, "[::1]:6432")';
  if (typeof v !== 'string') return fail(`${form}, got ${shown(v)}`);
  const m = /^\[([^\]]*)\]:([^:]*)$/.exec(v) ?? /^([^:[\]]*):([^:]*)$/.exec(v);
  if (!m) return fail(`${form}, got ${shown(v)}`);
  const [, host, portText] = m;
  const bracketed = v.startsWith('[');
  if (bracketed ? !IPV6.test(host) : !HOST_NAME.test(host)) return fail(`${form}, got ${shown(v)}`);
  const port = parsePort(portText, { allowZero: true });
  if (!port.ok) return port;
  return ok({ host, port: port.value });
}

/** An upstream host: a name, an IPv4 address, or an IPv6 address (brackets optional). */
export function parseHost(v: unknown): Parsed<string> {
  if (typeof v !== 'string') return fail(`expected a host name or address, got ${shown(v)}`);
  const bare = v.startsWith('[') && v.endsWith(']') ? v.slice(1, -1) : v;
  if (HOST_NAME.test(bare) || (bare.includes(':') && IPV6.test(bare))) return ok(bare);
  return fail(`expected a host name or address, got ${shown(v)}`);
}

const DURATION_UNITS: Record<string, number> = { ms: 1, s: 1000, m: 60_000, h: 3_600_000 };

/** "10s", "500ms", "2m", "1h", or a number of seconds. Returns milliseconds (> 0). */
export function parseDuration(v: unknown): Parsed<number> {
  const problem = `expected a duration such as "10s", "500ms" or "2m" (or a number of seconds), got ${shown(v)}`;
  let ms: number;
  if (typeof v === 'number') ms = v * 1000;
  else if (typeof v === 'string') {
    const m = /^\s*([0-9]+(?:\.[0-9]+)?)\s*(ms|s|m|h)?\s*$/.exec(v);
    if (!m) return fail(problem);
    ms = Number(m[1]) * DURATION_UNITS[m[2] ?? 's'];
  } else return fail(problem);
  if (!Number.isFinite(ms) || ms <= 0 || ms > 2 ** 31 - 1) return fail(problem);
  return ok(Math.round(ms));
}

const SIZE_UNITS: Record<string, number> = { b: 1, k: 1024, m: 1024 ** 2, g: 1024 ** 3 };

/**
 * Bytes as a number, or "512KB" / "256MB" / "1GB" (also KiB/MiB/GiB, K/M/G). Units are powers of
 * 1024 either way, as in PostgreSQL's own configuration.
 */
export function parseSize(v: unknown): Parsed<number> {
  const problem = `expected a size in bytes or such as "256MB", got ${shown(v)}`;
  let bytes: number;
  if (typeof v === 'number') bytes = v;
  else if (typeof v === 'string') {
    const m = /^\s*([0-9]+(?:\.[0-9]+)?)\s*(?:([kmg])(?:i?b)?|(b))?\s*$/i.exec(v);
    if (!m) return fail(problem);
    bytes = Number(m[1]) * SIZE_UNITS[(m[2] ?? m[3] ?? 'b').toLowerCase()];
  } else return fail(problem);
  if (!Number.isFinite(bytes) || bytes < 1 || bytes > Number.MAX_SAFE_INTEGER) return fail(problem);
  return ok(Math.floor(bytes));
}

export function formatDuration(ms: number): string {
  if (ms % 3_600_000 === 0) return `${ms / 3_600_000}h`;
  if (ms % 60_000 === 0) return `${ms / 60_000}m`;
  if (ms % 1000 === 0) return `${ms / 1000}s`;
  return `${ms}ms`;
}

export function formatSize(bytes: number): string {
  for (const [unit, size] of [
    ['GiB', 1024 ** 3],
    ['MiB', 1024 ** 2],
    ['KiB', 1024],
  ] as const) {
    if (bytes >= size && bytes % size === 0) return `${bytes / size} ${unit}`;
  }
  return `${bytes} bytes`;
}

export function formatListenAddress(a: ListenAddress): string {
  return a.host.includes(':') ? `[${a.host}]:${a.port}` : `${a.host}:${a.port}`;
}
