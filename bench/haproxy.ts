import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { removeAtExit } from '../test/support/cleanup.js';
import { run } from '../test/support/exec.js';
import { freePort, isPortOpen } from '../test/support/ports.js';
import { ServerProcess } from '../test/support/server-process.js';
import { waitFor } from '../test/support/wait.js';

export interface Haproxy {
  readonly port: number;
  readonly pid: number | undefined;
  stop(): Promise<void>;
}

/**
 * HAProxy as a plain TCP relay (mode tcp) in the foreground, its config in a temp folder: the
 * reference for what a mature C proxy that does not read the protocol costs.
 */
export async function startHaproxy(
  bin: string,
  upstream: { host: string; port: number },
  maxconn: number,
  /** nbthread; HAProxy's default is one thread per CPU. */
  threads?: number,
): Promise<Haproxy> {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'dbtape-bench-haproxy-'));
  removeAtExit(dir);
  const port = await freePort();
  const cfg = path.join(dir, 'haproxy.cfg');
  writeFileSync(
    cfg,
    [
      'global',
      `  maxconn ${maxconn * 2 + 10}`,
      ...(threads ? [`  nbthread ${threads}`] : []),
      'defaults',
      '  mode tcp',
      '  timeout connect 5s',
      '  timeout client 1h',
      '  timeout server 1h',
      'frontend db',
      `  bind 127.0.0.1:${port}`,
      '  default_backend upstream',
      'backend upstream',
      `  server db ${upstream.host}:${upstream.port} maxconn ${maxconn}`,
      '',
    ].join('\n'),
  );
  const proc = new ServerProcess(bin, ['-db', '-f', cfg], { cwd: dir, maxLines: 200 });
  await waitFor(() => isPortOpen('127.0.0.1', port), { what: 'haproxy to listen', timeoutMs: 20_000 });
  return {
    port,
    pid: proc.pid,
    async stop() {
      await proc.stop('SIGTERM', 5000);
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

export async function haproxyVersion(bin: string): Promise<string> {
  return (await run(bin, ['-v'])).stdout.split('\n')[0]?.trim() ?? 'unknown';
}
