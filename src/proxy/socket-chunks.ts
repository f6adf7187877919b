import net from 'node:net';
import { tcpHandle } from './tcp-handle.js';

/**
 * Delivers what a socket receives, one Buffer per read, to `onChunk`: the proxies' way of reading
 * once forwarding starts.
 *
 * For a plain TCP socket the reads go into one read buffer shared by every socket (net's `onread`)
 * and each read is copied out into a Buffer of its own size. Node's 'data' path costs more per read:
 * it allocates 64 KiB, shrinks it to what was read, wraps it as a new ArrayBuffer and pushes it
 * through the Readable's machinery. Measured with sysbench oltp_read_only through a bare relay
 * (docs/benchmarks.md): 16% less CPU per transaction and 7–14% more TPS. Copying a few hundred bytes
 * is cheaper than that allocation, and every chunk still outlives its read, as 'data' chunks do,
 * so the pipelines may keep slices of it. One buffer serves all sockets because a read is copied
 * out before the next read (of any socket) can start: libuv calls the callback right after each
 * read, on this thread.
 *
 * Node offers `onread` only as an option of sockets it connects; an accepted socket gets the same
 * through the symbols net keeps it under, found once on a probe socket. Where they are missing
 * (another Node.js), for TLS sockets, and when the stream already holds data read before
 * forwarding started, the socket's 'data' events are used instead: the same chunks, more slowly.
 *
 * Pause and resume work as for any socket: net.Socket's pause() stops the handle's reads when a
 * read buffer is in use. Call this while the socket is paused, and resume() it after.
 */
export function readChunks(socket: net.Socket, onChunk: (chunk: Buffer) => void): void {
  const symbols = SYMBOLS;
  const handle = symbols === null ? null : userBufferHandle(socket);
  if (symbols === null || handle === null || socket.readableLength > 0) {
    socket.on('data', onChunk);
    return;
  }
  const s = socket as unknown as Record<symbol, unknown>;
  s[symbols.buffer] = SHARED;
  s[symbols.generator] = null;
  s[symbols.callback] = (n: number, read: Buffer): boolean => {
    const chunk = Buffer.allocUnsafe(n);
    read.copy(chunk, 0, 0, n);
    onChunk(chunk);
    // true: keep reading unless onChunk paused the socket, which stopped the reads itself.
    return true;
  };
  handle.useUserBuffer(SHARED);
}

/** Whether readChunks reads `socket` through the shared buffer (for tests). */
export function readsThroughSharedBuffer(socket: net.Socket): boolean {
  return SYMBOLS !== null && (socket as unknown as Record<symbol, unknown>)[SYMBOLS.buffer] === SHARED;
}

const SHARED = Buffer.allocUnsafe(64 * 1024);

interface UserBufferHandle {
  useUserBuffer(buffer: Uint8Array): void;
}

interface OnreadSymbols {
  readonly buffer: symbol;
  readonly callback: symbol;
  readonly generator: symbol;
}

const SYMBOLS = findSymbols();

function findSymbols(): OnreadSymbols | null {
  // The constructor takes onread (net.connect passes its options through); @types/node lists it
  // only for connect().
  const onread = { buffer: Buffer.alloc(1), callback: () => true };
  const probe = new net.Socket({ onread } as net.SocketConstructorOpts);
  const symbols = Object.getOwnPropertySymbols(probe);
  const named = (d: string) => symbols.find((s) => s.description === d);
  const buffer = named('kBuffer');
  const callback = named('kBufferCb');
  const generator = named('kBufferGen');
  probe.destroy();
  return buffer && callback && generator ? { buffer, callback, generator } : null;
}

/** The TCP wrap whose reads the shared buffer replaces. */
function userBufferHandle(socket: net.Socket): UserBufferHandle | null {
  const handle = tcpHandle(socket);
  return handle && typeof handle.useUserBuffer === 'function'
    ? (handle as unknown as UserBufferHandle)
    : null;
}
