import { type ChildProcess, spawn } from 'node:child_process';
import { createWriteStream, type WriteStream } from 'node:fs';
import { onExit } from './cleanup.js';
import { type OsUser, spawnAs } from './os-user.js';
import { withTimeout } from './wait.js';

export interface ServerProcessOptions {
  cwd?: string;
  env?: NodeJS.ProcessEnv;
  /** Run as this account (when we are root). */
  user?: OsUser | null;
  /** Also append every output line to this file, for reading after a failure. */
  logFile?: string;
  /** Keep at most this many lines in memory (default: all). */
  maxLines?: number;
  /** Signal sent if the test process exits while the server still runs (default SIGKILL). */
  exitSignal?: NodeJS.Signals;
}

export interface Exit {
  code: number | null;
  signal: NodeJS.Signals | null;
}

/**
 * A long-running child (a database server, a proxy) whose stdout and stderr lines are kept, so that a
 * test can wait for a log line and quote the output when something fails.
 */
export class ServerProcess {
  readonly child: ChildProcess;
  readonly lines: string[] = [];
  readonly exited: Promise<Exit>;
  private exit: Exit | null = null;
  private readonly watchers = new Set<(line: string) => void>();
  private readonly log: WriteStream | null;
  private readonly unregister: () => void;

  constructor(
    readonly command: string,
    readonly args: readonly string[],
    private readonly opts: ServerProcessOptions = {},
  ) {
    this.log = opts.logFile ? createWriteStream(opts.logFile, { flags: 'a' }) : null;
    this.child = spawn(command, args, {
      cwd: opts.cwd,
      env: opts.env ?? process.env,
      stdio: ['ignore', 'pipe', 'pipe'],
      ...spawnAs(opts.user ?? null),
    });
    this.exited = new Promise((resolve) => {
      this.child.once('exit', (code, signal) => {
        this.exit = { code, signal };
        this.unregister();
        resolve(this.exit);
      });
      // A spawn failure (ENOENT, EACCES) emits 'error' and no 'exit'.
      this.child.once('error', (err) => {
        this.push(`spawn error: ${err.message}`);
        this.exit = { code: -1, signal: null };
        this.unregister();
        resolve(this.exit);
      });
    });
    this.readLines(this.child.stdout!);
    this.readLines(this.child.stderr!);
    const signal = opts.exitSignal ?? 'SIGKILL';
    this.unregister = onExit(() => {
      if (this.running) this.child.kill(signal);
    });
  }

  get pid(): number | undefined {
    return this.child.pid;
  }

  get running(): boolean {
    return this.exit === null;
  }

  /** The last `n` output lines, for error messages. */
  tail(n = 30): string {
    return this.lines.slice(-n).join('\n');
  }

  /**
   * Resolves with the first line (already seen or future) matching `re`. Rejects if the process exits
   * first or after `timeoutMs`, quoting the output.
   */
  waitForLine(re: RegExp, timeoutMs = 20_000, what = `a line matching ${re}`): Promise<string> {
    const seen = this.lines.find((l) => re.test(l));
    if (seen !== undefined) return Promise.resolve(seen);
    let watcher: ((line: string) => void) | undefined;
    const matched = new Promise<string>((resolve, reject) => {
      watcher = (line) => {
        if (re.test(line)) resolve(line);
      };
      this.watchers.add(watcher);
      this.exited.then((exit) => reject(this.failure(`exited (${describeExit(exit)}) before ${what}`)));
    });
    return withTimeout(matched, timeoutMs, `${what} from ${this.command}`)
      .catch((err: Error) => {
        throw this.running ? this.failure(err.message) : err;
      })
      .finally(() => {
        if (watcher) this.watchers.delete(watcher);
      });
  }

  /** Sends `signal`, waits for exit; SIGKILL after `killAfterMs`. */
  async stop(signal: NodeJS.Signals = 'SIGTERM', killAfterMs = 5000): Promise<Exit> {
    if (this.running) this.child.kill(signal);
    const timer = setTimeout(() => {
      if (this.running) this.child.kill('SIGKILL');
    }, killAfterMs);
    try {
      return await this.exited;
    } finally {
      clearTimeout(timer);
      this.log?.end();
    }
  }

  /** An error that names the command and quotes its recent output. */
  failure(message: string): Error {
    return new Error(`${this.command} ${message}\n--- output of ${this.command} ---\n${this.tail()}`);
  }

  private readLines(stream: NodeJS.ReadableStream): void {
    let partial = '';
    stream.setEncoding('utf8');
    stream.on('data', (chunk: string) => {
      const parts = (partial + chunk).split('\n');
      partial = parts.pop() ?? '';
      for (const line of parts) this.push(line);
    });
    stream.on('end', () => {
      if (partial) this.push(partial);
      partial = '';
    });
  }

  private push(line: string): void {
    this.lines.push(line);
    const max = this.opts.maxLines;
    if (max !== undefined && this.lines.length > max) this.lines.splice(0, this.lines.length - max);
    // 'exit' can come before the last of the child's output: stop() may have closed the log already.
    if (this.log && !this.log.writableEnded) this.log.write(`${line}\n`);
    for (const watcher of this.watchers) watcher(line);
  }
}

export function describeExit(exit: Exit): string {
  return exit.signal ? `signal ${exit.signal}` : `code ${exit.code}`;
}
