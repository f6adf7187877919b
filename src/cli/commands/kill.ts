import type { Command } from 'commander';
import { loadConfigForReading } from '../../config/load.js';
import { CliError } from '../output.js';

/**
 * `dbtape kill ID`: end a live session. Live sessions belong to the running `dbtape serve`, so
 * this asks it through its HTTP API (POST /api/sessions/:id/kill) with an admin's API token.
 */
export function registerKill(program: Command): void {
  program
    .command('kill')
    .description('end a live session (asks the running dbtape serve, as an admin, through its HTTP API)')
    .argument('<id>', 'session id')
    .option('--url <url>', 'dashboard/API address of the running dbtape (default: listen.http of the config)')
    .option('--token <token>', 'an admin API token (default: $DBTAPE_TOKEN)')
    .option('-c, --config <file>', 'config file whose listen.http to use', 'dbtape.yaml')
    .action(async (id: string, opts: { url?: string; token?: string; config: string }) => {
      const token = opts.token ?? process.env.DBTAPE_TOKEN;
      if (!token) {
        throw new CliError(
          'dbtape: kill needs an admin API token: pass --token or set DBTAPE_TOKEN (an admin creates one with POST /api/tokens)',
          2,
        );
      }
      const base = opts.url ?? apiUrlFromConfig(opts.config);
      const url = `${base.replace(/\/+$/, '')}/api/sessions/${encodeURIComponent(id)}/kill`;
      let res: Response;
      try {
        res = await fetch(url, { method: 'POST', headers: { authorization: `Bearer ${token}` } });
      } catch (err) {
        throw new CliError(`dbtape: cannot reach dbtape at ${base}: ${(err as Error).message}`, 1);
      }
      if (res.ok) {
        process.stdout.write(`session ${id} ended\n`);
        return;
      }
      const body = (await res.json().catch(() => null)) as { error?: { message?: string } } | null;
      const why = body?.error?.message ?? res.statusText;
      throw new CliError(`dbtape: could not end session ${id}: ${res.status} ${why}`, 1);
    });
}

function apiUrlFromConfig(file: string): string {
  const http = loadConfigForReading(file).listen.http;
  if (!http) throw new CliError(`dbtape: ${file} has no listen.http; pass --url`, 2);
  const host = http.host.includes(':') ? `[${http.host}]` : http.host;
  return `http://${host}:${http.port}`;
}
