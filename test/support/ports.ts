import net from 'node:net';
import { waitFor } from './wait.js';

/**
 * A TCP port on 127.0.0.1 that was free a moment ago. The OS picks it; another process could take it
 * before the caller binds, so servers started on it should retry on "address in use".
 */
export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = net.createServer();
    server.unref();
    server.on('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const address = server.address();
      const port = typeof address === 'object' && address !== null ? address.port : 0;
      server.close(() => (port > 0 ? resolve(port) : reject(new Error('could not get a free port'))));
    });
  });
}

/** True when something accepts a TCP connection on host:port within `timeoutMs`. */
export function isPortOpen(host: string, port: number, timeoutMs = 1000): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = net.connect({ host, port });
    const done = (open: boolean) => {
      socket.destroy();
      resolve(open);
    };
    socket.setTimeout(timeoutMs, () => done(false));
    socket.once('connect', () => done(true));
    socket.once('error', () => done(false));
  });
}

/** Waits until host:port accepts TCP connections. */
export async function waitForPort(host: string, port: number, timeoutMs = 20_000): Promise<void> {
  await waitFor(() => isPortOpen(host, port, 500), {
    timeoutMs,
    intervalMs: 50,
    what: `a TCP listener on ${host}:${port}`,
  });
}

/** Splits "host:port" (IPv6 as "[::1]:port"). */
export function parseHostPort(text: string): { host: string; port: number } {
  const match = /^\[?([^\]]*)\]?:(\d+)$/.exec(text.trim());
  if (!match) throw new Error(`not a host:port address: ${JSON.stringify(text)}`);
  return { host: match[1]!, port: Number(match[2]) };
}
