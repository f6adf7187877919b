import { readFileSync } from 'node:fs';
import { isIP, type Socket } from 'node:net';
import { type SecureContext, TLSSocket, connect as tlsConnect } from 'node:tls';
import type { Target } from '../model/identity.js';

/** TLS on an open connection, after the protocol's own request for it (PostgreSQL SSLRequest, MySQL Protocol::SSLRequest). */

/**
 * Server side: the client sent an SSLRequest; the TLS handshake starts now. `early` holds bytes
 * that arrived after the SSLRequest (the start of the client's TLS handshake): they are put back
 * into the socket, where TLSSocket reads them as TLS input.
 */
export function acceptTls(socket: Socket, secureContext: SecureContext, early: Buffer): Promise<TLSSocket> {
  socket.pause();
  if (early.length > 0) socket.unshift(early);
  return new Promise((resolve, reject) => {
    const tls = new TLSSocket(socket, { isServer: true, secureContext });
    const onError = (err: Error): void => {
      tls.destroy();
      reject(err);
    };
    tls.once('secure', () => {
      tls.off('error', onError);
      resolve(tls);
    });
    tls.once('error', onError);
  });
}

/** Client side towards a target, with libpq-like `tls` modes (verify-full checks name and CA). */
export function startTls(socket: Socket, target: Target): Promise<TLSSocket> {
  const verify = target.tls === 'verify-full';
  const tls = tlsConnect({
    socket,
    // The name checked against the certificate; without it Node checks "localhost".
    host: target.host,
    servername: isIP(target.host) ? undefined : target.host,
    rejectUnauthorized: verify,
    ca: verify && target.caFile ? readFileSync(target.caFile) : undefined,
    // The key must be absent, not undefined, for Node's default check to apply (verify-full).
    ...(verify ? {} : { checkServerIdentity: () => undefined }),
  });
  return new Promise((resolve, reject) => {
    tls.once('secureConnect', () => {
      tls.off('error', reject);
      resolve(tls);
    });
    tls.once('error', reject);
  });
}
