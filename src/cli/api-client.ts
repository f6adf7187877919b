/**
 * The CLI's way into a running `dbtape serve`, for what only it holds (live sessions, API tokens):
 * its HTTP API, as an admin. Either with an API token, or by signing in as a dbtape user, as the
 * dashboard does (the password from $DBTAPE_PASSWORD, the terminal without echo, or stdin; never
 * from an argument), signing out again when done.
 */
import { loadConfigForReading } from '../config/load.js';
import { CliError } from './output.js';
import { readPassword } from './password-input.js';

/** The options every API-backed command takes (see registerApiOptions). */
export interface ApiAccessOptions {
  readonly url?: string;
  readonly user?: string;
  readonly token?: string;
  readonly config: string;
}

export class ApiClient {
  private constructor(
    private readonly base: string,
    private readonly headers: Record<string, string>,
    private readonly signedIn: boolean,
  ) {}

  /** Connects as an admin; `what` names the command in the usage error ("kill", "tokens"). */
  static async open(opts: ApiAccessOptions, what: string): Promise<ApiClient> {
    const token = opts.token || process.env.DBTAPE_TOKEN;
    const user = opts.user || process.env.DBTAPE_USER;
    if (!token && !user) {
      throw new CliError(
        `dbtape: ${what} needs an admin: pass --user NAME (the password is read from $DBTAPE_PASSWORD or asked for), or an API token with --token or DBTAPE_TOKEN`,
        2,
      );
    }
    const base = (opts.url ?? apiUrlFromConfig(opts.config)).replace(/\/+$/, '');
    if (token) return new ApiClient(base, { authorization: `Bearer ${token}` }, false);
    return new ApiClient(base, await signIn(base, user!), true);
  }

  /** The JSON answer of a successful call; a CliError saying `failed` and why otherwise. */
  async json<T>(method: string, path: string, failed: string, body?: unknown): Promise<T> {
    const res = await this.request(method, path, body);
    if (!res.ok) throw new CliError(`dbtape: ${failed}: ${await failure(res)}`, 1);
    return (await res.json()) as T;
  }

  async request(method: string, path: string, body?: unknown): Promise<Response> {
    const headers =
      body === undefined ? this.headers : { ...this.headers, 'content-type': 'application/json' };
    return call(this.base, method, path, headers, body === undefined ? undefined : JSON.stringify(body));
  }

  /** Signs out (best effort: a sign-in left behind lapses on its own). */
  async close(): Promise<void> {
    if (!this.signedIn) return;
    await call(this.base, 'POST', '/api/logout', this.headers).then(
      () => undefined,
      () => undefined,
    );
  }
}

/** Signs in as the dashboard does: a session cookie, and the CSRF token state-changing calls echo. */
async function signIn(base: string, user: string): Promise<Record<string, string>> {
  const password = process.env.DBTAPE_PASSWORD ?? (await readPassword(`Password for ${user}: `));
  const res = await call(
    base,
    'POST',
    '/api/login',
    { 'content-type': 'application/json' },
    JSON.stringify({ user, password }),
  );
  if (!res.ok) throw new CliError(`dbtape: could not sign in as ${user}: ${await failure(res)}`, 1);
  const { csrf } = (await res.json()) as { csrf?: string };
  const cookie = (res.headers.get('set-cookie') ?? '').split(';')[0]!;
  if (!csrf || !cookie) throw new CliError(`dbtape: ${base} did not answer the sign-in as dbtape does`, 1);
  return { cookie, 'x-csrf-token': csrf };
}

async function call(
  base: string,
  method: string,
  path: string,
  headers: Record<string, string>,
  body?: string,
): Promise<Response> {
  try {
    return await fetch(`${base}${path}`, { method, headers, body });
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
