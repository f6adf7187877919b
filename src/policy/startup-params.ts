/**
 * Which of a client's startup parameters dbtape passes upstream. The identity and the
 * database always come from the target; a few settings could undo the proxy's own
 * guarantees (who the session runs as, read-only enforcement), so they are refused.
 */
import type { SettingChange } from './classification.js';

/** Settings a client may not set at startup, directly or through `options`. */
const FORBIDDEN = new Set([
  'user',
  'database',
  'replication',
  'role',
  'session_authorization',
  'default_transaction_read_only',
  'transaction_read_only',
  'session_replication_role',
  'session_preload_libraries',
  'local_preload_libraries',
]);

export type StartupParamsDecision =
  | { readonly ok: true; readonly params: Map<string, string> }
  | { readonly ok: false; readonly message: string };

export function upstreamStartupParams(client: ReadonlyMap<string, string>): StartupParamsDecision {
  const params = new Map<string, string>();
  for (const [name, value] of client) {
    if (name === 'user' || name === 'database') continue;
    if (FORBIDDEN.has(name.toLowerCase())) {
      return { ok: false, message: `dbtape: startup parameter "${name}" is not allowed through dbtape` };
    }
    if (name === 'options') {
      const bad = forbiddenOption(value);
      if (bad)
        return {
          ok: false,
          message: `dbtape: setting "${bad}" in startup options is not allowed through dbtape`,
        };
    }
    params.set(name, value);
  }
  return { ok: true, params };
}

/**
 * Every setting the client's startup parameters make on the server, directly or through
 * `options`, as the SET each one amounts to, for the statement policy to judge
 * (PolicyEngine.decideStartupSettings). For parameters upstreamStartupParams passed.
 */
export function startupSettings(params: ReadonlyMap<string, string>): SettingChange[] {
  const settings: SettingChange[] = [];
  for (const [name, value] of params) {
    if (name === 'options') {
      for (const o of optionSettings(value)) if (typeof o !== 'string') settings.push(o);
    } else settings.push({ name: name.toLowerCase(), value, scope: 'session' });
  }
  return settings;
}

/**
 * `options` holds command-line style switches: `-c name=value`, `--name=value`, with
 * backslash-escaped spaces (PostgreSQL docs, "options" in libpq connection parameters). Each
 * setting, or the switch as written when it is no setting.
 */
function optionSettings(options: string): (SettingChange | string)[] {
  const words: string[] = [];
  let cur = '';
  for (let i = 0; i < options.length; i++) {
    const ch = options[i];
    if (ch === '\\' && i + 1 < options.length) cur += options[++i];
    else if (ch === ' ' || ch === '\t') {
      if (cur) words.push(cur);
      cur = '';
    } else cur += ch;
  }
  if (cur) words.push(cur);
  const out: (SettingChange | string)[] = [];
  for (let i = 0; i < words.length; i++) {
    let setting: string | undefined;
    const w = words[i];
    if (w === '-c') setting = words[++i];
    else if (w.startsWith('-c')) setting = w.slice(2);
    else if (w.startsWith('--')) setting = w.slice(2);
    if (setting === undefined) {
      out.push(w);
      continue;
    }
    const eq = setting.indexOf('=');
    const name = (eq < 0 ? setting : setting.slice(0, eq)).toLowerCase().replace(/-/g, '_');
    out.push({ name, value: eq < 0 ? null : setting.slice(eq + 1), scope: 'session' });
  }
  return out;
}

/** The first switch of `options` that is refused: a forbidden setting, or no setting at all. */
function forbiddenOption(options: string): string | null {
  for (const o of optionSettings(options)) {
    // Other switches (-D, -F, ...) have no business on a proxied connection.
    if (typeof o === 'string') return o;
    if (FORBIDDEN.has(o.name)) return o.name;
  }
  return null;
}
