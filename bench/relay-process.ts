import path from 'node:path';
import { REPO_ROOT } from '../test/support/dbtape-process.js';
import { freePort } from '../test/support/ports.js';
import { ServerProcess } from '../test/support/server-process.js';

export interface RelayProcess {
  readonly port: number;
  readonly pid: number | undefined;
  stop(): Promise<void>;
}

/** bench/relay.ts in its own node process, in front of `upstream`, on a free port. */
export async function startRelay(upstream: { host: string; port: number }): Promise<RelayProcess> {
  const port = await freePort();
  const relay = path.join(REPO_ROOT, 'bench', 'relay.ts');
  const args = ['--import', 'tsx', relay, String(port), upstream.host, String(upstream.port)];
  const proc = new ServerProcess(process.execPath, args, { cwd: REPO_ROOT, maxLines: 100 });
  await proc.waitForLine(/relay listening/, 20_000, 'the relay to listen');
  return {
    port,
    pid: proc.pid,
    stop: async () => {
      await proc.stop('SIGTERM');
    },
  };
}
