import type net from 'node:net';
import { TLSSocket } from 'node:tls';

/**
 * net's own `_handle` (not in its types): the libuv stream wrap under a socket, null once the
 * socket is destroyed. The proxies' fast reads and writes (socket-chunks, socket-writes) use it.
 */
export function handleOf(socket: net.Socket): unknown {
  return (socket as unknown as { _handle?: unknown })._handle;
}

/**
 * The TCP wrap of a live plain TCP socket, as a bag of its methods for the caller to check; null
 * for TLS sockets (their handle carries TLS records, not the application's bytes) and destroyed ones.
 */
export function tcpHandle(socket: net.Socket): Record<string, unknown> | null {
  if (socket instanceof TLSSocket || socket.destroyed) return null;
  const h = handleOf(socket);
  return typeof h === 'object' && h !== null ? (h as Record<string, unknown>) : null;
}
