import type { Command } from 'commander';

/** The options of commands that ask the running dbtape serve through its API (api-client.ts). */
export function apiAccessOptions(command: Command): Command {
  return command
    .option('--url <url>', 'dashboard/API address of the running dbtape (default: listen.http of the config)')
    .option('--user <name>', 'sign in as this dbtape user, an admin (default: $DBTAPE_USER)')
    .option('--token <token>', 'an admin API token instead of signing in (default: $DBTAPE_TOKEN)')
    .option('-c, --config <file>', 'config file whose listen.http to use', 'dbtape.yaml');
}
