/**
 * Connected loopback socket pairs for the tests of the proxies' socket reads and writes, and
 * bytes that say where they came from, so a lost, repeated or reordered byte shows.
 */
import { once } from 'node:events';
import { mkdtempSync, readFileSync } from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import tls from 'node:tls';
import { makeSelfSignedCert } from './certs.js';
import { removeAtExit } from './cleanup.js';

export interface SocketPair<S extends net.Socket = net.Socket> {
  /** The accepted side, as a proxy gets it. */
  readonly accepted: S;
  /** The connecting side. */
  readonly peer: S;
  close(): void;
}

/** A TCP pair; `pauseOnConnect` hands the accepted side over paused, as the listeners do. */
export function tcpPair(opts: { pauseOnConnect?: boolean } = {}): Promise<SocketPair> {
  const server = net.createServer({ pauseOnConnect: opts.pauseOnConnect ?? false });
  return connectPair(server, 'connection', 'connect', (port) => net.connect({ host: '127.0.0.1', port }));
}

/** A TLS pair over a throwaway self-signed certificate. */
export function tlsPair(): Promise<SocketPair<tls.TLSSocket>> {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'dbtape-tls-pair-'));
  removeAtExit(dir);
  const files = makeSelfSignedCert(dir);
  const server = tls.createServer({ key: readFileSync(files.keyFile), cert: readFileSync(files.certFile) });
  return connectPair(server, 'secureConnection', 'secureConnect', (port) =>
    tls.connect({ host: '127.0.0.1', port, rejectUnauthorized: false }),
  );
}

/** Listen on a free loopback port, connect once, and hand over both ends once both are ready. */
async function connectPair<S extends net.Socket>(
  server: net.Server,
  acceptEvent: string,
  readyEvent: string,
  connect: (port: number) => S,
): Promise<SocketPair<S>> {
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  const { port } = server.address() as net.AddressInfo;
  const accepted = once(server, acceptEvent) as Promise<[S]>;
  const peer = connect(port);
  await once(peer, readyEvent);
  const [socket] = await accepted;
  return {
    accepted: socket,
    peer,
    close() {
      socket.destroy();
      peer.destroy();
      server.close();
    },
  };
}

/** Deterministic bytes: positions `from` to `from + size` of stream `tag`. */
export function pattern(tag: number, size: number, from = 0): Buffer {
  const b = Buffer.allocUnsafe(size);
  for (let i = 0; i < size; i++) b[i] = (tag * 31 + (from + i) * 7 + ((from + i) >> 9)) & 0xff;
  return b;
}
