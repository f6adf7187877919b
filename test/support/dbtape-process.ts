import { existsSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { parse as parseYaml } from 'yaml';
import { removeAtExit } from './cleanup.js';
import { type ExitResult, runStatus } from './exec.js';
import { isPortOpen, parseHostPort } from './ports.js';
import { describeExit, ServerProcess } from './server-process.js';
import { errorText, waitFor } from './wait.js';

export const REPO_ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..');
export const DBTAPE_BIN = path.join(REPO_ROOT, 'bin', 'dbtape.js');

export interface DbtapeOptions {
  /** The dbtape.yaml text; every address under `listen:` is waited for. */
  config: string;
  /** Added to the environment (e.g. target passwords named by password_env). */
  env?: Record<string, string>;
  /** Folder to run in (the config is written there as dbtape.yaml); default: a new temp folder. */
  dir?: string;
  /** Extra arguments after `serve -c FILE`. */
  args?: string[];
  /** Script run instead of bin/dbtape.js; only the harness's self-test uses this. */
  bin?: string;
  /** How long to wait for the listeners (default 20 000 ms). */
  startTimeoutMs?: number;
}

export interface Dbtape {
  /** Working folder, holding dbtape.yaml; relative store paths land here. Removed when the test process exits. */
  readonly dir: string;
  readonly configFile: string;
  /** Every stdout and stderr line so far (JSON log lines), in order. */
  readonly logs: string[];
  readonly process: ServerProcess;
  /** The first log line (seen or future) matching `re`. */
  waitForLog(re: RegExp, timeoutMs?: number): Promise<string>;
  /** SIGTERM, wait for exit, SIGKILL after 5 s; resolves with the exit. */
  stop(): Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
  kill(signal?: NodeJS.Signals): void;
}

/**
 * Runs `node bin/dbtape.js serve -c <dir>/dbtape.yaml` and resolves once every listener accepts TCP
 * connections. Fails with dbtape's own output when it exits or does not listen in time.
 */
export async function startDbtape(opts: DbtapeOptions): Promise<Dbtape> {
  if (!opts.bin) requireBuilt();
  const dir = opts.dir ?? mkdtempSync(path.join(os.tmpdir(), 'dbtape-proxy-'));
  if (!opts.dir) removeAtExit(dir);
  mkdirSync(dir, { recursive: true });
  const configFile = path.join(dir, 'dbtape.yaml');
  writeFileSync(configFile, opts.config);
  const env = { ...process.env, ...opts.env };
  const listeners = listenAddresses(opts.config, env);

  const proc = new ServerProcess(
    process.execPath,
    [opts.bin ?? DBTAPE_BIN, 'serve', '-c', configFile, ...(opts.args ?? [])],
    { cwd: dir, env, logFile: path.join(dir, 'dbtape.log') },
  );
  try {
    await waitForListeners(proc, listeners, opts.startTimeoutMs ?? 20_000, logsListening(opts.config));
  } catch (err) {
    await proc.stop('SIGKILL');
    throw new Error(
      `dbtape did not start (listeners: ${listeners.map((l) => `${l.host}:${l.port}`).join(', ') || 'none'}): ` +
        `${errorText(err)}\n--- dbtape output ---\n${proc.tail(50)}`,
    );
  }

  return {
    dir,
    configFile,
    logs: proc.lines,
    process: proc,
    waitForLog: (re, ms = 10_000) => proc.waitForLine(re, ms, `dbtape log line matching ${re}`),
    stop: () => proc.stop('SIGTERM', 5000),
    kill: (signal = 'SIGKILL') => {
      proc.child.kill(signal);
    },
  };
}

/**
 * An open port is not proof that dbtape listens: free ports are picked before binding, and another
 * test's server (a throwaway MariaDB, once) may take the same one, dbtape then exiting on
 * EADDRINUSE. So when dbtape logs at info level (the default), its own "listening" line for the
 * port is waited for as well.
 */
async function waitForListeners(
  proc: ServerProcess,
  listeners: { host: string; port: number }[],
  timeoutMs: number,
  logged: boolean,
): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  const announced = (port: number) =>
    !logged || proc.lines.some((l) => l.includes('listening') && l.includes(`:${port}"`));
  for (const { host, port } of listeners) {
    const state = await waitFor(
      async () =>
        !proc.running ? 'exited' : (await isPortOpen(host, port, 500)) && announced(port) && 'open',
      { timeoutMs: Math.max(0, deadline - Date.now()), what: `a listener on ${host}:${port}` },
    );
    if (state === 'exited') {
      const exit = await proc.exited;
      throw new Error(`it exited (${describeExit(exit)}) before listening`);
    }
  }
}

/** Whether the config's log level lets dbtape log its "listening" lines (info, the default, or debug). */
function logsListening(config: string): boolean {
  const doc = parseYaml(config) as { log?: { level?: unknown } } | null;
  const level = doc?.log?.level;
  return level === undefined || level === 'info' || level === 'debug';
}

/** The host:port entries under `listen:` in a dbtape.yaml text, after `${VAR}` expansion. */
export function listenAddresses(config: string, env: NodeJS.ProcessEnv): { host: string; port: number }[] {
  const doc = parseYaml(config) as { listen?: Record<string, unknown> } | null;
  const listen = doc?.listen ?? {};
  return Object.values(listen)
    .filter((v): v is string | number => typeof v === 'string' || typeof v === 'number')
    .map((v) => String(v).replace(/\$\{(\w+)\}/g, (_, name: string) => env[name] ?? ''))
    .map((v) => (/^\d+$/.test(v) ? { host: '127.0.0.1', port: Number(v) } : parseHostPort(v)));
}

function requireBuilt(): void {
  const main = path.join(REPO_ROOT, 'dist', 'cli', 'main.js');
  if (!existsSync(main)) {
    throw new Error(`${main} does not exist: run \`npm run build\` first (npm test does this).`);
  }
}

/** Removes a dbtape working folder now instead of at exit. */
export function removeDbtapeDir(dbtape: Dbtape): void {
  rmSync(dbtape.dir, { recursive: true, force: true });
}

/**
 * `node bin/dbtape.js ...args` to completion, in `cwd`, with only PATH (and `env`) in its
 * environment, so no PG* or password variable of the caller leaks in; resolves whatever the status.
 */
export function dbtapeCli(
  args: readonly string[],
  opts: { cwd: string; env?: NodeJS.ProcessEnv; input?: string },
): Promise<ExitResult> {
  return runStatus(process.execPath, [DBTAPE_BIN, ...args], {
    cwd: opts.cwd,
    env: { PATH: process.env.PATH, ...opts.env },
    input: opts.input,
  });
}
