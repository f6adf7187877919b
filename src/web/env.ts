/** Hono's typing of our app: node's request objects as bindings, the caller as a variable. */
import type { HttpBindings } from '@hono/node-server';
import type { Context } from 'hono';
import type { Principal } from './types.js';

export type WebEnv = {
  Bindings: HttpBindings;
  Variables: {
    principal: Principal;
    /** The client's address, set for every request by client-address.ts's middleware. */
    clientIp: string;
  };
};

export type WebContext = Context<WebEnv>;

/**
 * The client's address: the socket's, or behind a trusted proxy the one it forwarded
 * (client-address.ts). The socket's when the middleware has not run.
 */
export function clientIp(c: WebContext): string {
  // Variables are typed as set, but a handler mounted without the middleware would read undefined.
  const set: string | undefined = c.get('clientIp');
  return set ?? c.env.incoming.socket.remoteAddress ?? 'unknown';
}
