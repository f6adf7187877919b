/** Hono's typing of our app: node's request objects as bindings, the caller as a variable. */
import type { HttpBindings } from '@hono/node-server';
import type { Context } from 'hono';
import type { Principal } from './types.js';

export type WebEnv = {
  Bindings: HttpBindings;
  Variables: { principal: Principal };
};

export type WebContext = Context<WebEnv>;

/** The client's address as the socket reports it (dbtape does not trust X-Forwarded-For). */
export function clientIp(c: WebContext): string {
  return c.env.incoming.socket.remoteAddress ?? 'unknown';
}
