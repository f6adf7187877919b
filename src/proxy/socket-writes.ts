import type net from 'node:net';
import { getSystemErrorName } from 'node:util';
import { handleOf, tcpHandle } from './tcp-handle.js';

/**
 * Every write a session's pipeline makes to one of its sockets once forwarding starts, with the
 * socket's backpressure: `write` returns false once the bytes waiting for the peer reach the
 * socket's high-water mark, and `onDrain` is called when they have all gone.
 *
 * For a plain TCP socket the bytes go straight to its libuv handle, as net.Socket's own write does
 * in the end, without the Writable around it: no per-write state machine, callback object or
 * nextTick, and no WriteWrap request object unless the kernel did not take the bytes at once
 * (one spare request serves every write that completes synchronously, which nearly all do).
 * Measured with sysbench oltp_read_only through a bare relay (docs/benchmarks.md): 20% less CPU per
 * transaction, and HAProxy's throughput.
 *
 * Writes keep their order because they all take this path: the libuv handle queues whatever it
 * cannot write at once, and a later write never overtakes the queue (uv_try_write refuses while it
 * is not empty). That is why a socket is written here only if nothing waits in its Writable when
 * the SocketWriter is made, and why everything the pipeline writes afterwards (its own errors too)
 * goes through the SocketWriter. `end()` goes through the Writable, whose shutdown libuv performs
 * after the queued writes.
 *
 * The handle and the request type are Node's internals (`process.binding('stream_wrap')`, the
 * socket's `_handle`), checked once: TLS sockets, sockets with bytes still waiting in their Writable,
 * and a Node.js without them use the socket's own write and 'drain' instead, to the same effect.
 */
export class SocketWriter {
  private readonly handle: RawHandle | null;
  private readonly highWaterMark: number;
  private waitingDrain = false;
  private ended = false;

  constructor(
    readonly socket: net.Socket,
    private readonly onDrain: () => void,
  ) {
    this.highWaterMark = socket.writableHighWaterMark;
    this.handle = socket.writableLength === 0 ? rawHandle(socket) : null;
    if (this.handle === null) socket.on('drain', onDrain);
  }

  /** Whether writes go straight to the TCP handle (for tests). */
  get direct(): boolean {
    return this.handle !== null;
  }

  /** Queue `b` for the peer; false once the caller should stop its source until onDrain. */
  write(b: Buffer): boolean {
    const h = this.handle;
    if (h === null) return this.socket.write(b);
    if (this.ended || handleOf(this.socket) !== h) return false;
    const req = SPARE.req;
    return this.dispatched(req, h.writeBuffer(req, b), b);
  }

  /** Queue several buffers as one write (one system call where the kernel takes them all). */
  writev(parts: readonly Buffer[]): boolean {
    if (parts.length === 1) return this.write(parts[0]);
    const h = this.handle;
    if (h === null) {
      const s = this.socket;
      s.cork();
      let ok = true;
      for (const p of parts) ok = s.write(p) && ok;
      s.uncork();
      return ok;
    }
    if (this.ended || handleOf(this.socket) !== h) return false;
    const req = SPARE.req;
    return this.dispatched(req, h.writev(req, parts, true), parts);
  }

  /** Whether the last write found the peer's buffer full and onDrain has not been called since. */
  get needDrain(): boolean {
    return this.handle === null ? this.socket.writableNeedDrain : this.waitingDrain;
  }

  /** Bytes written but not yet taken by the kernel. */
  get pending(): number {
    const h = this.handle;
    if (h === null) return this.socket.writableLength;
    return handleOf(this.socket) === h ? h.writeQueueSize : 0;
  }

  get destroyed(): boolean {
    return this.socket.destroyed;
  }

  /** Half-close after everything written so far; nothing more is written. */
  end(): void {
    this.ended = true;
    this.socket.end();
  }

  destroy(): void {
    this.socket.destroy();
  }

  private dispatched(req: WriteRequest, err: number, keep: Buffer | readonly Buffer[]): boolean {
    if (err !== 0) {
      // libuv may have taken the request before refusing the write: never reuse it.
      SPARE.req = newRequest();
      this.failed(err);
      return false;
    }
    if (STATE.values[STATE.lastWriteWasAsync] === 0) return true;
    // The kernel took part of it: libuv holds the rest, and the request until it is done. The bytes
    // must stay alive until then (the handle does not hold them), and the next write needs a new
    // spare request.
    req.owner = this;
    req.keep = keep;
    SPARE.req = newRequest();
    if (this.handle!.writeQueueSize < this.highWaterMark) return true;
    this.waitingDrain = true;
    return false;
  }

  /** A queued write finished (`status` < 0: it failed, or the socket was destroyed meanwhile). */
  completed(status: number): void {
    if (status < 0) {
      this.failed(status);
      return;
    }
    const h = this.handle!;
    if (this.waitingDrain && handleOf(this.socket) === h && h.writeQueueSize === 0) {
      this.waitingDrain = false;
      this.onDrain();
    }
  }

  private failed(errno: number): void {
    const s = this.socket;
    if (s.destroyed) return; // libuv cancels a destroyed socket's queued writes
    const code = getSystemErrorName(errno);
    const err: NodeJS.ErrnoException = new Error(`write ${code}`);
    err.code = code;
    err.errno = errno;
    err.syscall = 'write';
    // As net.Socket does with a write that fails: the socket goes, with its 'error' and 'close'.
    s.destroy(err);
  }
}

/** What SocketWriter uses of a TCP wrap: the StreamBase calls net.Socket's own writes end in. */
interface RawHandle {
  writeBuffer(req: WriteRequest, b: Buffer): number;
  writev(req: WriteRequest, parts: readonly Buffer[], allBuffers: true): number;
  readonly writeQueueSize: number;
}

/** A WriteWrap: libuv keeps it while a write is queued and calls its oncomplete when done. */
interface WriteRequest {
  oncomplete(this: WriteRequest, status: number): void;
  owner: SocketWriter | null;
  keep: Buffer | readonly Buffer[] | null;
}

interface StreamWrapBinding {
  WriteWrap: new () => WriteRequest;
  streamBaseState: Int32Array;
  kLastWriteWasAsync: number;
}

function onWriteComplete(this: WriteRequest, status: number): void {
  const owner = this.owner!;
  this.owner = null;
  this.keep = null;
  owner.completed(status);
}

const BINDING = loadBinding();

const STATE = {
  values: BINDING?.streamBaseState ?? new Int32Array(1),
  lastWriteWasAsync: BINDING?.kLastWriteWasAsync ?? 0,
};

function newRequest(): WriteRequest {
  const req = new BINDING!.WriteWrap();
  req.oncomplete = onWriteComplete;
  req.owner = null;
  req.keep = null;
  return req;
}

/** The request the next write passes; used up (replaced) only by a write that is queued. */
const SPARE: { req: WriteRequest } = {
  req: BINDING === null ? (null as unknown as WriteRequest) : newRequest(),
};

function loadBinding(): StreamWrapBinding | null {
  try {
    // process.binding is deprecated (DEP0111, documentation-only unless --pending-deprecation) and
    // not in @types/node; 'stream_wrap' is on its allow-list in every Node.js since 10.
    const b = (process as unknown as { binding(name: string): Partial<StreamWrapBinding> }).binding(
      'stream_wrap',
    );
    const ok =
      typeof b.WriteWrap === 'function' &&
      b.streamBaseState instanceof Int32Array &&
      typeof b.kLastWriteWasAsync === 'number';
    return ok ? (b as StreamWrapBinding) : null;
  } catch {
    return null;
  }
}

function rawHandle(socket: net.Socket): RawHandle | null {
  if (BINDING === null || socket.writableEnded) return null;
  const h = tcpHandle(socket);
  if (!h || typeof h.writeBuffer !== 'function' || typeof h.writev !== 'function') return null;
  return typeof h.writeQueueSize === 'number' ? (h as unknown as RawHandle) : null;
}
