/**
 * A man in the middle for PostgreSQL connections: it answers the client's SSLRequest itself,
 * terminates TLS with a certificate of its own, opens its own TLS connection to the server (not
 * verifying it, as `sslmode=require` does not) and relays the bytes between the two. Everything but
 * channel binding lets such a relay through: it is what SCRAM-SHA-256-PLUS is for.
 */

import { readFileSync } from 'node:fs';
import net from 'node:net';
import path from 'node:path';
import tls from 'node:tls';
import { makeSelfSignedCert } from './certs.js';
import { tempDir } from './pg-fixtures.js';

/** PostgreSQL's SSLRequest (protocol docs, "SSLRequest"): length 8, code 80877103. */
const SSL_REQUEST = Buffer.from([0, 0, 0, 8, 0x04, 0xd2, 0x16, 0x2f]);

export interface TlsMitm {
  readonly port: number;
  close(): Promise<void>;
}

export async function startTlsMitm(server: { host: string; port: number }): Promise<TlsMitm> {
  const certs = makeSelfSignedCert(path.join(tempDir('dbtape-mitm-'), 'mitm'));
  const context = tls.createSecureContext({
    cert: readFileSync(certs.certFile),
    key: readFileSync(certs.keyFile),
  });
  const sockets = new Set<net.Socket>();
  const listener = net.createServer((client) => {
    sockets.add(client);
    client.on('close', () => sockets.delete(client));
    client.on('error', () => {});
    client.once('data', (request) => {
      if (!request.equals(SSL_REQUEST)) return client.destroy();
      client.write('S');
      const clientTls = new tls.TLSSocket(client, { isServer: true, secureContext: context });
      clientTls.on('error', () => client.destroy());
      const upstream = net.connect(server.port, server.host, () => upstream.write(SSL_REQUEST));
      sockets.add(upstream);
      upstream.on('close', () => sockets.delete(upstream));
      upstream.on('error', () => client.destroy());
      upstream.once('data', (answer) => {
        if (answer.toString() !== 'S') return client.destroy();
        const serverTls = tls.connect({ socket: upstream, rejectUnauthorized: false });
        serverTls.on('error', () => client.destroy());
        clientTls.pipe(serverTls).pipe(clientTls);
        clientTls.on('close', () => serverTls.destroy());
        serverTls.on('close', () => clientTls.destroy());
      });
    });
  });
  await new Promise<void>((resolve) => listener.listen(0, '127.0.0.1', resolve));
  return {
    port: (listener.address() as net.AddressInfo).port,
    close: async () => {
      for (const s of sockets) s.destroy();
      await new Promise<void>((resolve) => listener.close(() => resolve()));
    },
  };
}
