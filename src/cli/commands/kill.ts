import type { Command } from 'commander';
import { type ApiAccessOptions, ApiClient } from '../api-client.js';
import { apiAccessOptions } from './api-options.js';

/**
 * `dbtape kill ID`: end a live session. Live sessions belong to the running `dbtape serve`, so
 * this asks it through its HTTP API (POST /api/sessions/:id/kill) as an admin (api-client.ts).
 */
export function registerKill(program: Command): void {
  apiAccessOptions(
    program
      .command('kill')
      .description('end a live session (asks the running dbtape serve, as an admin, through its HTTP API)')
      .argument('<id>', 'session id'),
  ).action(async (id: string, opts: ApiAccessOptions) => {
    const api = await ApiClient.open(opts, 'kill');
    try {
      await api.json('POST', `/api/sessions/${encodeURIComponent(id)}/kill`, `could not end session ${id}`);
      process.stdout.write(`session ${id} ended\n`);
    } finally {
      await api.close();
    }
  });
}
