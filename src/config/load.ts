/**
 * Loading dbtape.yaml: read, parse YAML, expand ${VAR}, check the schema, resolve. Every problem found
 * is reported at once in a ConfigError naming the file, the key path and what is wrong.
 */
import { readFileSync } from 'node:fs';
import { dirname, resolve } from 'node:path';
import { LineCounter, parseDocument } from 'yaml';
import type { z } from 'zod';
import { expandEnv } from './env.js';
import { type ConfigIssue, closestKey, IssueList, type KeyPath } from './errors.js';
import { resolveConfig } from './resolve.js';
import { configFileSchema, KNOWN_KEYS } from './schema.js';
import type { Config } from './types.js';
import { shown } from './units.js';

export { ConfigError, type ConfigIssue, formatKeyPath } from './errors.js';

export interface ParseOptions {
  /** The file name as the user gave it, for messages. */
  readonly file: string;
  /** Folder relative paths resolve against. */
  readonly baseDir: string;
  readonly env?: NodeJS.ProcessEnv;
  /** Absolute path for Config.source; defaults to baseDir/file. */
  readonly source?: string;
  /**
   * For commands that read the store and never connect to a target (sessions, show, verify, …):
   * target passwords are not read, so their environment variables and files need not exist.
   * Their `password` is null. serve, demo and check-config leave this off.
   */
  readonly forReading?: boolean;
}

export interface LoadOptions {
  /** See ParseOptions.forReading. */
  readonly forReading?: boolean;
}

export function loadConfig(
  file: string,
  env: NodeJS.ProcessEnv = process.env,
  options: LoadOptions = {},
): Config {
  const abs = resolve(file);
  let text: string;
  try {
    text = readFileSync(abs, 'utf8');
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    const why =
      code === 'ENOENT' ? `no such file (${abs}); pass another with -c FILE` : `cannot read it (${code})`;
    const issues = new IssueList();
    issues.add([], why);
    issues.throwIfAny(file);
    throw err;
  }
  return parseConfigText(text, {
    file,
    baseDir: dirname(abs),
    env,
    source: abs,
    forReading: options.forReading,
  });
}

/** The config for a read command: as loadConfig, without reading target passwords. */
export function loadConfigForReading(file: string, env: NodeJS.ProcessEnv = process.env): Config {
  return loadConfig(file, env, { forReading: true });
}

/** Parse a config from YAML text (tests, and callers that build the text themselves). */
export function parseConfigText(text: string, opts: ParseOptions): Config {
  const issues = new IssueList();
  const lineCounter = new LineCounter();
  const doc = parseDocument(text, { prettyErrors: false, lineCounter });
  for (const e of doc.errors) {
    const pos = lineCounter.linePos(e.pos[0]);
    const where = `line ${pos.line}, column ${pos.col}: `;
    issues.add([], `${where}YAML syntax error: ${e.message.split('\n')[0]}`);
  }
  issues.throwIfAny(opts.file);
  let data: unknown;
  try {
    data = doc.toJS({ maxAliasCount: 100 }) ?? {};
  } catch (err) {
    issues.add([], `cannot read the YAML: ${(err as Error).message}`);
    issues.throwIfAny(opts.file);
  }
  return parseConfigObject(data, opts);
}

/** Validate and resolve an already-parsed config tree (plain objects, as YAML gives). */
export function parseConfigObject(data: unknown, opts: ParseOptions): Config {
  const issues = new IssueList();
  if (data === null || typeof data !== 'object' || Array.isArray(data)) {
    issues.add([], 'expected a mapping of keys (listen:, targets:, ...) at the top level');
    issues.throwIfAny(opts.file);
  }
  const env = opts.env ?? process.env;
  const expanded = expandEnv(data, env, [], issues);
  issues.throwIfAny(opts.file);

  let parsed = configFileSchema.safeParse(expanded, { error: messageFor });
  if (!parsed.success) {
    const found = parsed.error.issues;
    for (const i of found.flatMap(schemaIssues)) issues.add(i.path, i.message);
    // Unknown keys alone leave the rest checkable: check it without them, so that a file with a typo
    // and, say, an unknown role gets both reported in one run instead of one after the other.
    if (!found.every((i) => i.code === 'unrecognized_keys')) issues.throwIfAny(opts.file);
    parsed = configFileSchema.safeParse(withoutKeys(expanded, found), { error: messageFor });
    if (!parsed.success) issues.throwIfAny(opts.file);
  }
  const source = opts.source ?? resolve(opts.baseDir, opts.file);
  const context = { baseDir: opts.baseDir, env, issues, source, forReading: opts.forReading ?? false };
  const config = resolveConfig(context, parsed.data!);
  issues.throwIfAny(opts.file);
  return config;
}

/** A copy of `data` without the keys the unrecognized_keys issues name. */
function withoutKeys(data: unknown, found: readonly ZodIssue[]): unknown {
  const copy: unknown = structuredClone(data);
  for (const issue of found) {
    if (issue.code !== 'unrecognized_keys') continue;
    let node: unknown = copy;
    for (const part of issue.path) node = (node as Record<PropertyKey, unknown> | undefined)?.[part];
    if (node === null || typeof node !== 'object') continue;
    for (const key of issue.keys) delete (node as Record<string, unknown>)[key];
  }
  return copy;
}

type ZodIssue = z.core.$ZodIssue;
type RawIssue = z.core.$ZodRawIssue;

/** Our wording for zod's built-in checks; values are echoed only for enums, which never hold secrets. */
function messageFor(iss: RawIssue): string | undefined {
  switch (iss.code) {
    case 'invalid_type':
      return iss.input === undefined
        ? 'is required'
        : `expected ${article(iss.expected)}, got ${typeName(iss.input)}`;
    case 'invalid_value':
      return `expected one of ${iss.values.map((v) => String(v)).join(' | ')}, got ${shown(iss.input)}`;
    default:
      return undefined;
  }
}

function article(expected: string): string {
  return expected === 'array' ? 'a list' : expected === 'object' ? 'a mapping' : `a ${expected}`;
}

function typeName(v: unknown): string {
  if (v === null) return 'nothing (null)';
  if (Array.isArray(v)) return 'a list';
  if (typeof v === 'object') return 'a mapping';
  return `a ${typeof v}`;
}

/** One problem per unknown key, at that key's path, with a "did you mean" when one is close. */
function schemaIssues(issue: ZodIssue): ConfigIssue[] {
  const path = issue.path as KeyPath;
  if (issue.code !== 'unrecognized_keys') return [{ path, message: issue.message }];
  const known =
    KNOWN_KEYS[
      path
        .map((p) => (typeof p === 'number' ? '[]' : p))
        .join('.')
        .replace(/\.\[\]/g, '[]')
    ];
  return issue.keys.map((key) => {
    const guess = known ? closestKey(key, known) : null;
    const hint = guess ? `did you mean "${guess}"?` : known ? `known keys: ${known.join(', ')}` : '';
    return { path: [...path, key], message: `unknown key${hint ? ` (${hint})` : ''}` };
  });
}
