import type { Socket } from 'node:net';

/**
 * Buffers what a socket sends during the short, request/response phases before
 * forwarding starts (startup, TLS negotiation, authentication). Once those are done
 * the pipeline calls `detach()` and takes over the socket's 'data' events itself.
 */
export class SocketClosedError extends Error {
  readonly code = 'DBTAPE_SOCKET_CLOSED';
}

export class SocketReader {
  private chunks: Buffer[] = [];
  private size = 0;
  private waiting: { n: number; resolve: () => void; reject: (e: Error) => void } | null = null;
  private closed: Error | null = null;
  private readonly onData = (chunk: Buffer): void => {
    this.chunks.push(chunk);
    this.size += chunk.length;
    this.wake();
  };
  private readonly onClose = (): void => this.fail(new SocketClosedError('connection closed'));
  private readonly onError = (err: Error): void => this.fail(err);

  constructor(
    private readonly socket: Socket,
    /** Upper bound on buffered bytes, so a peer cannot make us hold unbounded input here. */
    private readonly limit: number,
  ) {
    socket.on('data', this.onData);
    socket.on('close', this.onClose);
    socket.on('end', this.onClose);
    socket.on('error', this.onError);
  }

  get buffered(): number {
    return this.size;
  }

  /** Resolve once at least `n` bytes are buffered. */
  need(n: number): Promise<void> {
    if (this.size >= n) return Promise.resolve();
    if (this.closed) return Promise.reject(this.closed);
    if (n > this.limit) return Promise.reject(new RangeError(`message of ${n} bytes exceeds ${this.limit}`));
    return new Promise((resolve, reject) => {
      this.waiting = { n, resolve, reject };
    });
  }

  /** Look at the first `n` buffered bytes without consuming them (n must be <= buffered). */
  peek(n: number): Buffer {
    this.flatten();
    return this.chunks[0].subarray(0, n);
  }

  /** Consume `n` bytes (n must be <= buffered); the result is safe to keep. */
  take(n: number): Buffer {
    this.flatten();
    const head = this.chunks[0];
    const out = Buffer.from(head.subarray(0, n));
    const rest = head.subarray(n);
    this.chunks = rest.length ? [rest] : [];
    this.size -= n;
    return out;
  }

  /** Stop listening; return whatever was received but not consumed. */
  detach(): Buffer {
    this.socket.off('data', this.onData);
    this.socket.off('close', this.onClose);
    this.socket.off('end', this.onClose);
    this.socket.off('error', this.onError);
    this.flatten();
    const rest = this.chunks[0] ?? Buffer.alloc(0);
    this.chunks = [];
    this.size = 0;
    return rest;
  }

  private flatten(): void {
    if (this.chunks.length > 1) this.chunks = [Buffer.concat(this.chunks)];
  }

  private wake(): void {
    const w = this.waiting;
    if (w && this.size >= w.n) {
      this.waiting = null;
      w.resolve();
    } else if (this.size > this.limit) {
      this.fail(new RangeError(`peer sent more than ${this.limit} bytes before authentication finished`));
    }
  }

  private fail(err: Error): void {
    this.closed ??= err;
    const w = this.waiting;
    this.waiting = null;
    w?.reject(err);
  }
}

/** Read one typed message (type byte, int32 length, body); returns [type, body]. */
export async function readTyped(reader: SocketReader, maxBody: number): Promise<[number, Buffer]> {
  await reader.need(5);
  const head = reader.peek(5);
  const type = head[0];
  const len = head.readInt32BE(1);
  if (len < 4 || len - 4 > maxBody) throw new RangeError(`invalid message length ${len}`);
  await reader.need(1 + len);
  const msg = reader.take(1 + len);
  return [type, msg.subarray(5)];
}
