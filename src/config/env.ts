/**
 * `${VAR}` expansion in the config's string values. It runs on the parsed YAML tree, not on the text,
 * so a variable's value can never change the file's structure. Forms:
 *   ${VAR}            the variable; an error if it is unset
 *   ${VAR:-default}   the default when VAR is unset or empty (as in POSIX sh)
 *   $${               a literal "${"
 */
// biome-ignore-all lint/suspicious/noTemplateCurlyInString: messages show the ${VAR} syntax itself
import type { IssueList, KeyPath } from './errors.js';

const REFERENCE = /\$\$\{|\$\{([^}]*)(\}?)/g;
const VAR_NAME = /^[A-Za-z_][A-Za-z0-9_]*$/;

export function expandEnv(value: unknown, env: NodeJS.ProcessEnv, path: KeyPath, issues: IssueList): unknown {
  if (typeof value === 'string') return expandString(value, env, path, issues);
  if (Array.isArray(value)) return value.map((v, i) => expandEnv(v, env, [...path, i], issues));
  if (value !== null && typeof value === 'object') {
    const out: Record<string, unknown> = {};
    for (const [k, v] of Object.entries(value)) out[k] = expandEnv(v, env, [...path, k], issues);
    return out;
  }
  return value;
}

function expandString(s: string, env: NodeJS.ProcessEnv, path: KeyPath, issues: IssueList): string {
  if (!s.includes('${')) return s;
  return s.replace(REFERENCE, (match, body: string | undefined, closed: string | undefined) => {
    if (match === '$${') return '${';
    if (!closed) {
      issues.add(path, 'unterminated "${": write ${NAME}, or $${ for a literal "${"');
      return '';
    }
    const sep = body!.indexOf(':-');
    const name = sep < 0 ? body! : body!.slice(0, sep);
    if (!VAR_NAME.test(name)) {
      // The text is not echoed: a mistyped value here could be a secret.
      issues.add(path, 'holds an invalid environment variable reference (use ${NAME} or ${NAME:-default})');
      return '';
    }
    const set = env[name];
    if (sep >= 0) return set === undefined || set === '' ? body!.slice(sep + 2) : set;
    if (set === undefined) {
      issues.add(path, `environment variable ${name} is not set (set it, or write \${${name}:-default})`);
      return '';
    }
    return set;
  });
}
