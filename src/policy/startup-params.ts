/**
 * Which of a client's startup parameters dbtape passes upstream. The identity and the
 * database always come from the target; a few settings could undo the proxy's own
 * guarantees (who the session runs as, read-only enforcement), so they are refused.
 */

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
 * `options` holds command-line style switches: `-c name=value`, `--name=value`, with
 * backslash-escaped spaces (PostgreSQL docs, "options" in libpq connection parameters).
 */
function forbiddenOption(options: string): string | null {
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
  for (let i = 0; i < words.length; i++) {
    let setting: string | undefined;
    const w = words[i];
    if (w === '-c') setting = words[++i];
    else if (w.startsWith('-c')) setting = w.slice(2);
    else if (w.startsWith('--')) setting = w.slice(2);
    else return w; // other switches (-D, -F, ...) have no business on a proxied connection
    if (setting === undefined) return w;
    const name = setting.split('=')[0].toLowerCase().replace(/-/g, '_');
    if (FORBIDDEN.has(name)) return name;
  }
  return null;
}
