/**
 * API tokens, admin only: GET /api/tokens (never the secrets), POST /api/tokens
 * {"name": "...", "user"?: "...", "expires_in_days"?: n} (the secret is in the answer, once),
 * DELETE /api/tokens/:id.
 */
import type { Hono, MiddlewareHandler } from 'hono';
import type { User } from '../../model/identity.js';
import type { Logger } from '../../model/logger.js';
import { type ApiToken, type ApiTokens, MAX_TOKEN_DAYS } from '../auth/api-tokens.js';
import type { WebContext, WebEnv } from '../env.js';
import { ApiError } from '../http-errors.js';
import { isAdmin } from '../types.js';

export interface TokenRouteDeps {
  readonly tokens: ApiTokens;
  readonly users: ReadonlyMap<string, User>;
  readonly log: Logger;
}

export function tokenRoutes(app: Hono<WebEnv>, d: TokenRouteDeps, authed: MiddlewareHandler<WebEnv>): void {
  app.get('/api/tokens', authed, (c) => {
    requireAdmin(c);
    return c.json(d.tokens.list().map((t) => ({ ...tokenJson(t), last_used_at: t.lastUsedAt })));
  });

  app.post('/api/tokens', authed, async (c) => {
    const p = requireAdmin(c);
    let body: Record<string, unknown>;
    try {
      body = ((await c.req.json()) ?? {}) as Record<string, unknown>;
    } catch {
      throw new ApiError(400, 'DBTAPE_BAD_REQUEST', 'send JSON: {"name": "...", "user": "..."}');
    }
    const name = body.name;
    const user = body.user ?? p.user;
    if (typeof name !== 'string' || name.trim() === '' || name.length > 100) {
      throw new ApiError(
        400,
        'DBTAPE_BAD_REQUEST',
        '"name" must be a non-empty string of at most 100 characters',
      );
    }
    if (typeof user !== 'string' || !d.users.has(user)) {
      throw new ApiError(400, 'DBTAPE_BAD_REQUEST', '"user" must name a user of the config');
    }
    const days = expiresInDays(body.expires_in_days);
    const { token, info } = await keeperCall(
      d,
      () => d.tokens.create(name.trim(), user, p.user, days),
      { by: p.user },
      'create',
    );
    d.log.info(
      {
        token: info.id,
        for: user,
        by: p.user,
        persistent: d.tokens.persistent,
        expires_at: info.expiresAt ?? null,
      },
      'API token created',
    );
    return c.json({ ...tokenJson(info), token }, 201);
  });

  app.delete('/api/tokens/:id', authed, async (c) => {
    const p = requireAdmin(c);
    const id = c.req.param('id');
    const revoked = await keeperCall(d, () => d.tokens.revoke(id), { token: id, by: p.user }, 'revoke');
    if (!revoked) {
      throw new ApiError(404, 'DBTAPE_TOKEN_NOT_FOUND', 'no such token');
    }
    d.log.info({ token: id, by: p.user }, 'API token revoked');
    return c.json({ id, revoked: true });
  });
}

/**
 * A change the token keeper could not write: the cause goes to the log (it may name the store),
 * the admin gets 503 and may try again. A token not saved was not created; a revocation not saved
 * still holds in this process (ApiTokens.revoke).
 */
async function keeperCall<T>(
  d: TokenRouteDeps,
  fn: () => Promise<T>,
  fields: Record<string, string>,
  what: 'create' | 'revoke',
): Promise<T> {
  try {
    return await fn();
  } catch (err) {
    if ((err as { code?: unknown }).code !== 'DBTAPE_TOKENS_WRITE_FAILED') throw err;
    d.log.error({ ...fields, err: (err as Error).message }, 'API token change not saved');
    const outcome =
      what === 'create'
        ? 'so no token was created'
        : 'so the token is refused by this dbtape but may work again after a restart';
    throw new ApiError(
      503,
      'DBTAPE_TOKENS_WRITE_FAILED',
      `the API tokens could not be saved in ${d.tokens.where}, ${outcome} (see the server log); try again`,
    );
  }
}

function requireAdmin(c: WebContext) {
  const p = c.get('principal');
  if (!isAdmin(p)) throw new ApiError(403, 'DBTAPE_FORBIDDEN', 'only an admin may manage API tokens');
  return p;
}

/** Absent or null: the token never expires. */
function expiresInDays(v: unknown): number | undefined {
  if (v === undefined || v === null) return undefined;
  if (typeof v !== 'number' || !Number.isInteger(v) || v < 1 || v > MAX_TOKEN_DAYS) {
    throw new ApiError(
      400,
      'DBTAPE_BAD_REQUEST',
      `"expires_in_days" must be a whole number from 1 to ${MAX_TOKEN_DAYS} (leave it out for a token that never expires)`,
    );
  }
  return v;
}

function tokenJson(t: ApiToken) {
  return {
    id: t.id,
    name: t.name,
    user: t.user,
    created_by: t.createdBy,
    created_at: t.createdAt,
    expires_at: t.expiresAt ?? null,
  };
}
