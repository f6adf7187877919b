/**
 * `dbtape tokens create|list|revoke`: API tokens for scripts, SIEM collectors and `dbtape kill`.
 * Tokens live in the running `dbtape serve` (and its token file or PostgreSQL store), so these ask
 * it through its API as an admin (api-client.ts), as the dashboard would.
 */
import type { Command } from 'commander';
import { safeForTerminal } from '../../replay/sanitize.js';
import { type ApiAccessOptions, ApiClient } from '../api-client.js';
import { CliError, columns } from '../output.js';
import { apiAccessOptions } from './api-options.js';

interface TokenJson {
  readonly id: string;
  readonly name: string;
  readonly user: string;
  readonly created_by: string;
  readonly created_at: string;
  readonly expires_at: string | null;
  readonly last_used_at?: string | null;
  readonly token?: string;
}

interface CreateOptions extends ApiAccessOptions {
  readonly for?: string;
  readonly expiresInDays?: string;
  readonly json?: boolean;
}

interface ListOptions extends ApiAccessOptions {
  readonly json?: boolean;
}

export function registerTokens(program: Command): void {
  const tokens = program
    .command('tokens')
    .description('create, list and revoke API tokens (asks the running dbtape serve, as an admin)');
  apiAccessOptions(
    tokens
      .command('create')
      .description('create an API token; its secret is printed once')
      .argument('<name>', 'what the token is for, e.g. "siem-collector"')
      .option('--for <user>', 'the dbtape user the token acts as (default: the admin signing in)')
      .option('--expires-in-days <n>', 'the token stops working after this many days (default: never)')
      .option('--json', 'print the API answer as JSON'),
  ).action((name: string, opts: CreateOptions) => withApi(opts, (api) => create(api, name, opts)));
  apiAccessOptions(
    tokens
      .command('list')
      .description('list API tokens (never their secrets)')
      .option('--json', 'print JSON'),
  ).action((opts: ListOptions) => withApi(opts, (api) => list(api, opts)));
  apiAccessOptions(
    tokens
      .command('revoke')
      .description('revoke an API token at once')
      .argument('<id>', 'token id (tokens list)'),
  ).action((id: string, opts: ApiAccessOptions) =>
    withApi(opts, async (api) => {
      await api.json('DELETE', `/api/tokens/${encodeURIComponent(id)}`, `could not revoke token ${id}`);
      process.stdout.write(`token ${id} revoked\n`);
    }),
  );
}

async function withApi(opts: ApiAccessOptions, run: (api: ApiClient) => Promise<void>): Promise<void> {
  const api = await ApiClient.open(opts, 'tokens');
  try {
    await run(api);
  } finally {
    await api.close();
  }
}

async function create(api: ApiClient, name: string, opts: CreateOptions): Promise<void> {
  const body: Record<string, unknown> = { name };
  if (opts.for !== undefined) body.user = opts.for;
  if (opts.expiresInDays !== undefined) {
    const days = Number(opts.expiresInDays);
    if (!Number.isInteger(days) || days < 1) {
      throw new CliError('--expires-in-days takes a whole number of days (1 or more)', 2);
    }
    body.expires_in_days = days;
  }
  const t = await api.json<TokenJson>('POST', '/api/tokens', 'could not create the token', body);
  if (opts.json) {
    process.stdout.write(`${JSON.stringify(t, null, 2)}\n`);
    return;
  }
  process.stderr.write(
    `created token ${t.id} "${safe(t.name)}" for ${safe(t.user)}, ${t.expires_at ? `expires ${t.expires_at}` : 'never expires'}; ` +
      'the secret below is shown only now (use it as "Authorization: Bearer <token>")\n',
  );
  process.stdout.write(`${t.token}\n`);
}

async function list(api: ApiClient, opts: ListOptions): Promise<void> {
  const all = await api.json<TokenJson[]>('GET', '/api/tokens', 'could not list tokens');
  if (opts.json) {
    process.stdout.write(`${JSON.stringify(all, null, 2)}\n`);
    return;
  }
  const rows = [['ID', 'NAME', 'USER', 'CREATED BY', 'CREATED', 'EXPIRES', 'LAST USED']];
  for (const t of all) {
    rows.push([
      t.id,
      // The name is whatever an admin typed: printed like recorded text.
      safe(t.name),
      safe(t.user),
      safe(t.created_by),
      t.created_at,
      t.expires_at ?? 'never',
      t.last_used_at ?? '-',
    ]);
  }
  process.stdout.write(
    `${[...columns(rows), '', `${all.length} token${all.length === 1 ? '' : 's'}`].join('\n')}\n`,
  );
}

function safe(text: string): string {
  return safeForTerminal(text, { singleLine: true });
}
