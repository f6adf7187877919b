import type { Command } from 'commander';
import { loadConfigForReading } from '../../config/load.js';
import { CliError } from '../output.js';
import { readPassword } from '../password-input.js';

/**
 * `dbtape kill ID`: end a live session. Live sessions belong to the running `dbtape serve`, so
 * this asks it through its HTTP API (POST /api/sessions/:id/kill) as an admin: with an API token,
 * or by signing in as a dbtape user, as the dashboard does (the password is read from
 * $DBTAPE_PASSWORD, the terminal without echo, or stdin; never from an argument).
 */
export function registerKill(program: Command): void {
  program
    .command('kill')
    .description('end a live session (asks the running dbtape serve, as an admin, through its HTTP API)')
    .argument('<id>', 'session id')
    .option('--url <url>', 'dashboard/API address of the running dbtape (default: listen.http of the config)')
    .option('--user <name>', 'sign in as this dbtape user, an admin (default: $DBTAPE_USER)')
    .option('--token <token>', 'an admin API token instead of signing in (default: $DBTAPE_TOKEN)')
    .option('-c, --config <file>', 'config file whose listen.http to use', 'dbtape.yaml')
    .action(async (id: string, opts: { url?: string; user?: string; token?: string; config: string }) => {
      const token = opts.token || process.env.DBTAPE_TOKEN;
      const user = opts.user || process.env.DBTAPE_USER;
      if (!token && !user) {
        throw new CliError(
          'dbtape: kill needs an admin: pass --user NAME (the password is read from $DBTAPE_PASSWORD or asked for), or an API token with --token or DBTAPE_TOKEN',
          2,
        );
      }
      const base = (opts.url ?? apiUrlFromConfig(opts.config)).replace(/\/+$/, '');
      const auth = token ? { headers: { authorization: `Bearer ${token}` } } : await signIn(base, user!);
      try {
        const res = await call(base, `/api/sessions/${encodeURIComponent(id)}/kill`, auth.headers);
        if (!res.ok) throw new CliError(`dbtape: could not end session ${id}: ${await failure(res)}`, 1);
        process.stdout.write(`session ${id} ended\n`);
      } finally {
        await auth.signOut?.();
      }
    });
}

interface Auth {
  readonly headers: Record<string, string>;
  signOut?(): Promise<void>;
}

/** Signs in as the dashboard does: a session cookie, and the CSRF token state-changing calls echo. */
async function signIn(base: string, user: string): Promise<Auth> {
  const password = process.env.DBTAPE_PASSWORD ?? (await readPassword(`Password for ${user}: `));
  const res = await call(
    base,
    '/api/login',
    { 'content-type': 'application/json' },
    JSON.stringify({ user, password }),
  );
  if (!res.ok) throw new CliError(`dbtape: could not sign in as ${user}: ${await failure(res)}`, 1);
  const { csrf } = (await res.json()) as { csrf?: string };
  const cookie = (res.headers.get('set-cookie') ?? '').split(';')[0]!;
  if (!csrf || !cookie) throw new CliError(`dbtape: ${base} did not answer the sign-in as dbtape does`, 1);
  const headers = { cookie, 'x-csrf-token': csrf };
  return {
    headers,
    // Best effort: a sign-in left behind expires on its own.
    signOut: () =>
      call(base, '/api/logout', headers).then(
        () => undefined,
        () => undefined,
      ),
  };
}

async function call(
  base: string,
  path: string,
  headers: Record<string, string>,
  body?: string,
): Promise<Response> {
  try {
    return await fetch(`${base}${path}`, { method: 'POST', headers, body });
  } catch (err) {
    throw new CliError(`dbtape: cannot reach dbtape at ${base}: ${(err as Error).message}`, 1);
  }
}

async function failure(res: Response): Promise<string> {
  const body = (await res.json().catch(() => null)) as { error?: { message?: string } } | null;
  return `${res.status} ${(body?.error?.message ?? res.statusText).replace(/^dbtape: /, '')}`;
}

function apiUrlFromConfig(file: string): string {
  const http = loadConfigForReading(file).listen.http;
  if (!http) throw new CliError(`dbtape: ${file} has no listen.http; pass --url`, 2);
  const host = http.host.includes(':') ? `[${http.host}]` : http.host;
  return `http://${host}:${http.port}`;
}
