import { spawn } from 'node:child_process';
import { type OsUser, spawnAs } from './os-user.js';

export interface RunOptions {
  cwd?: string;
  env?: NodeJS.ProcessEnv;
  /** Written to the command's stdin, which is then closed. */
  input?: string;
  user?: OsUser | null;
  /** Kill the command after this long (default 60 000 ms). */
  timeoutMs?: number;
}

export interface RunResult {
  stdout: string;
  stderr: string;
}

export interface ExitResult extends RunResult {
  code: number | null;
  signal: NodeJS.Signals | null;
}

/** Runs a short command to completion and returns its exit status and output, whatever the status. */
export function runStatus(
  command: string,
  args: readonly string[],
  opts: RunOptions = {},
): Promise<ExitResult> {
  return new Promise((resolve, reject) => {
    const child = spawn(command, args, {
      cwd: opts.cwd,
      env: opts.env ?? process.env,
      stdio: ['pipe', 'pipe', 'pipe'],
      timeout: opts.timeoutMs ?? 60_000,
      ...spawnAs(opts.user ?? null),
    });
    let stdout = '';
    let stderr = '';
    child.stdout.setEncoding('utf8').on('data', (d: string) => {
      stdout += d;
    });
    child.stderr.setEncoding('utf8').on('data', (d: string) => {
      stderr += d;
    });
    child.on('error', (err) => reject(new Error(`${command}: ${err.message}`)));
    child.on('close', (code, signal) => resolve({ code, signal, stdout, stderr }));
    child.stdin.on('error', () => {
      // The command may exit without reading its input; its exit status tells what happened.
    });
    child.stdin.end(opts.input ?? '');
  });
}

/**
 * Runs a short command to completion and returns its output; rejects with the command line, exit
 * status and stderr when it fails, so that a broken set-up explains itself.
 */
export async function run(
  command: string,
  args: readonly string[],
  opts: RunOptions = {},
): Promise<RunResult> {
  const r = await runStatus(command, args, opts);
  if (r.code === 0) return { stdout: r.stdout, stderr: r.stderr };
  const status = r.signal ? `signal ${r.signal}` : `exit code ${r.code}`;
  throw new Error(`${command} ${args.join(' ')} failed (${status}):\n${r.stderr || r.stdout}`);
}

/** The environment without libpq's PG* variables, so a caller's settings cannot redirect our psql. */
export function envWithoutPg(extra: Record<string, string> = {}): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = {};
  for (const [key, value] of Object.entries(process.env)) {
    if (!key.startsWith('PG')) env[key] = value;
  }
  return { ...env, ...extra };
}
