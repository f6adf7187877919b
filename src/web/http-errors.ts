/**
 * Errors the API answers with: a stable code and a message a user can act on, as
 * `{"error": {"code": "DBTAPE_...", "message": "dbtape: ..."}}`.
 */
import type { ContentfulStatusCode } from 'hono/utils/http-status';
import { dbtapeMessage } from '../model/dbtape-message.js';

export class ApiError extends Error {
  override name = 'ApiError';
  constructor(
    readonly status: ContentfulStatusCode,
    readonly code: string,
    message: string,
    /** Extra response headers (e.g. Retry-After). */
    readonly headers: Record<string, string> = {},
  ) {
    super(dbtapeMessage(message));
  }

  body(): { error: { code: string; message: string } } {
    return { error: { code: this.code, message: this.message } };
  }
}

/** One answer for "no such session" and "not yours", so ids of others cannot be probed. */
export function sessionNotFound(): ApiError {
  return new ApiError(404, 'DBTAPE_SESSION_NOT_FOUND', 'no such session');
}

export function badParam(name: string, expected: string): ApiError {
  return new ApiError(400, 'DBTAPE_BAD_PARAMETER', `query parameter "${name}": expected ${expected}`);
}
