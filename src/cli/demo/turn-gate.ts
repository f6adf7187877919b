import { type AddressInfo, connect, createServer, type Server, type Socket } from 'node:net';
import type { Logger } from '../../model/logger.js';
import { B, F, MAX_STARTUP_PACKET_LENGTH, StartupCode } from '../../protocol/postgres/codes.js';
import { Framer, Mode, modeTable } from '../../protocol/postgres/framer.js';

/**
 * Lets several PostgreSQL connections share PGlite, which is one backend session.
 *
 * pglite-socket accepts many connections but queues their messages one by one, so between one
 * connection's Parse and its Bind another connection's Parse can replace the unnamed statement, and a
 * portal read in batches (Execute with a row limit, then Flush) can be replaced mid-way. This gate sits
 * in front of it: each client gets its own pglite-socket connection, but only one connection at a time
 * has "the turn", the right to send. A connection takes the turn when it has something to send and keeps
 * it until PGlite has answered everything it sent with ReadyForQuery 'I' (idle: no transaction block
 * open, no extended-protocol sequence pending). So a transaction, or a Parse/Bind/Execute…Sync
 * sequence, runs alone, in the order connections asked (PostgreSQL docs, "Message Flow": Sync and Query
 * each end with exactly one ReadyForQuery).
 *
 * What remains shared, because PGlite has one session: session settings (SET), temporary tables and
 * named prepared statements (two connections preparing the same name at once collide; the gate closes a
 * connection's named statements when it goes). A connection idle inside a transaction makes the others
 * wait. CancelRequest is not supported (PGlite runs a statement to its end).
 */

export interface TurnGateOptions {
  /** The pglite-socket server. */
  readonly upstreamHost: string;
  readonly upstreamPort: number;
  readonly log: Logger;
}

/** Largest message accepted from a client: PostgreSQL's own limit (1 GiB, MaxAllocSize). */
const MAX_MESSAGE = 0x3fffffff;
/** Stop reading a client that is not holding the turn once this much is waiting. */
const PENDING_HIGH_WATER = 1 << 20;

export class TurnGate {
  private readonly server: Server;
  private readonly connections = new Set<GatedConnection>();
  private readonly waiting: GatedConnection[] = [];
  private holder: GatedConnection | null = null;
  private closed = false;

  constructor(private readonly opts: TurnGateOptions) {
    this.server = createServer((socket) => this.accept(socket));
  }

  listen(host: string, port: number): Promise<AddressInfo> {
    return new Promise((resolve, reject) => {
      this.server.once('error', reject);
      this.server.listen(port, host, () => {
        this.server.off('error', reject);
        resolve(this.server.address() as AddressInfo);
      });
    });
  }

  close(): Promise<void> {
    this.closed = true;
    const done = new Promise<void>((resolve) => this.server.close(() => resolve()));
    for (const c of this.connections) c.destroy();
    return done;
  }

  /** Ask for the turn; granted now when free, else in order of asking. */
  request(c: GatedConnection): void {
    if (this.holder === c || this.waiting.includes(c)) return;
    if (this.holder === null) this.grant(c);
    else this.waiting.push(c);
  }

  release(c: GatedConnection): void {
    const i = this.waiting.indexOf(c);
    if (i >= 0) this.waiting.splice(i, 1);
    if (this.holder !== c) return;
    this.holder = null;
    const next = this.waiting.shift();
    if (next) this.grant(next);
  }

  forget(c: GatedConnection): void {
    this.connections.delete(c);
    this.release(c);
  }

  private grant(c: GatedConnection): void {
    if (this.closed) return;
    this.holder = c;
    c.granted();
  }

  private accept(client: Socket): void {
    const upstream = connect({ host: this.opts.upstreamHost, port: this.opts.upstreamPort });
    const c = new GatedConnection(this, client, upstream, this.opts.log);
    this.connections.add(c);
  }
}

interface Outgoing {
  readonly bytes: Buffer;
  /** Query, Sync, FunctionCall and the startup packet: each is answered by one ReadyForQuery. */
  readonly syncPoint: boolean;
}

/** One client connection and its own connection to pglite-socket. */
class GatedConnection {
  private inbuf: Buffer | null = null;
  private started = false;
  private pending: Outgoing[] = [];
  private pendingBytes = 0;
  private holding = false;
  /** Sync points sent and not yet answered by ReadyForQuery. */
  private outstanding = 0;
  /** Messages sent since the last sync point (an unfinished extended-protocol sequence). */
  private sinceSync = false;
  private status = 0x49; // 'I'
  /** The client is gone; what it sent still runs, then its state is cleaned up. */
  private leaving = false;
  private cleanupSent = false;
  private dead = false;
  private readonly named = new Set<string>();
  private readonly framer: Framer;

  constructor(
    private readonly gate: TurnGate,
    private readonly client: Socket,
    private readonly upstream: Socket,
    private readonly log: Logger,
  ) {
    this.framer = new Framer(modeTable(Mode.Pass, [[B.ReadyForQuery, Mode.Inspect]]), MAX_MESSAGE, {
      message: (_type, body, raw) => this.readyForQuery(body[0], raw),
      pass: (_type, bytes) => this.toClient(bytes),
      skipped: () => {},
      invalid: (reason) => this.fail(`PGlite sent an invalid message: ${reason}`),
    });
    client.setNoDelay(true);
    upstream.setNoDelay(true);
    client.on('data', (chunk: Buffer) => this.fromClient(chunk));
    client.on('end', () => this.leave());
    client.on('close', () => this.leave());
    client.on('error', () => this.leave());
    client.on('drain', () => upstream.resume());
    upstream.on('data', (chunk: Buffer) => {
      // One write to the client per chunk from PGlite, however many messages it holds.
      this.client.cork();
      this.framer.feed(chunk);
      this.client.uncork();
    });
    upstream.on('error', (err) => this.fail(`connection to PGlite failed: ${err.message}`));
    upstream.on('close', () => this.fail('PGlite closed the connection'));
  }

  granted(): void {
    this.holding = true;
    this.flush();
    this.settle();
  }

  destroy(): void {
    this.dead = true;
    this.client.destroy();
    this.upstream.destroy();
    this.gate.forget(this);
  }

  private fromClient(chunk: Buffer): void {
    if (this.leaving) return;
    let buf = this.inbuf === null ? chunk : Buffer.concat([this.inbuf, chunk]);
    let pos = 0;
    for (;;) {
      const size = this.started ? typedSize(buf, pos) : untypedSize(buf, pos);
      if (size === null) break;
      if (size < 0) {
        this.log.warn({}, 'a client of the embedded database sent a message with an invalid length');
        this.leave();
        return;
      }
      if (buf.length - pos < size) break;
      const message = buf.subarray(pos, pos + size);
      pos += size;
      if (this.started) this.typed(message);
      else this.untyped(message);
      if (this.leaving) return;
    }
    buf = buf.subarray(pos);
    this.inbuf = buf.length > 0 ? buf : null;
  }

  /** SSLRequest, GSSENCRequest, CancelRequest or the StartupMessage (PostgreSQL docs, "Start-up"). */
  private untyped(message: Buffer): void {
    const code = message.readInt32BE(4);
    if (code === StartupCode.SSLRequest || code === StartupCode.GSSENCRequest) {
      this.client.write('N'); // the hop to PGlite is loopback inside this process: no encryption
      return;
    }
    if (code === StartupCode.CancelRequest) {
      this.leave(); // PGlite cannot interrupt a running statement
      return;
    }
    this.started = true;
    this.enqueue({ bytes: message, syncPoint: true });
  }

  private typed(message: Buffer): void {
    const type = message[0];
    if (type === F.Terminate) {
      // Not forwarded: the one PGlite session outlives every client. Closing our connection to
      // pglite-socket is the goodbye.
      this.leave();
      return;
    }
    if (type === F.Parse) {
      const name = cstring(message, 5);
      if (name !== '') this.named.add(name);
    } else if (type === F.Close && message[5] === 0x53 /* 'S' */) {
      this.named.delete(cstring(message, 6));
    }
    const syncPoint = type === F.Sync || type === F.Query || type === F.FunctionCall;
    this.enqueue({ bytes: message, syncPoint });
  }

  private enqueue(out: Outgoing): void {
    this.pending.push(out);
    this.pendingBytes += out.bytes.length;
    if (this.holding) {
      this.flush();
      return;
    }
    if (this.pendingBytes > PENDING_HIGH_WATER) this.client.pause();
    this.gate.request(this);
  }

  private flush(): void {
    for (const out of this.pending) {
      this.upstream.write(out.bytes);
      if (out.syncPoint) {
        this.outstanding++;
        this.sinceSync = false;
      } else {
        this.sinceSync = true;
      }
    }
    this.pending = [];
    this.pendingBytes = 0;
    if (!this.leaving) this.client.resume();
  }

  private toClient(bytes: Buffer): void {
    if (this.leaving) return;
    if (!this.client.write(bytes)) this.upstream.pause();
  }

  private readyForQuery(status: number, raw: Buffer): void {
    this.toClient(raw);
    this.status = status;
    if (this.outstanding > 0) this.outstanding--;
    this.settle();
  }

  /** Called whenever the connection may have reached a point where it can hand the turn on. */
  private settle(): void {
    if (!this.holding || this.dead || this.outstanding > 0 || this.pending.length > 0) return;
    if (this.leaving) {
      this.cleanUp();
      return;
    }
    if (this.sinceSync || this.status !== 0x49) return;
    this.holding = false;
    this.gate.release(this);
  }

  /**
   * The client is gone. What it already sent still runs (a fire-and-forget INSERT must happen);
   * then, holding the turn, end its unfinished work: close an extended-protocol sequence, roll back an
   * open transaction, close its named prepared statements.
   */
  private leave(): void {
    if (this.leaving || this.dead) return;
    this.leaving = true;
    this.inbuf = null;
    this.client.destroy();
    this.upstream.resume(); // it may have been paused for a slow client; its answers are now dropped
    const clean = this.pending.length === 0 && !this.sinceSync && this.status === 0x49;
    if (clean && this.named.size === 0 && !this.holding) {
      this.finish();
      return;
    }
    if (this.holding) this.settle();
    else this.gate.request(this);
  }

  private cleanUp(): void {
    if (this.cleanupSent) {
      this.finish();
      return;
    }
    this.cleanupSent = true;
    const out: Buffer[] = [];
    if (this.sinceSync) out.push(frame(F.Sync, Buffer.alloc(0)));
    if (this.sinceSync || this.status !== 0x49) out.push(frame(F.Query, cstringBytes('ROLLBACK')));
    for (const name of this.named)
      out.push(frame(F.Close, Buffer.concat([Buffer.from('S'), cstringBytes(name)])));
    if (this.named.size > 0) out.push(frame(F.Sync, Buffer.alloc(0)));
    if (out.length === 0) {
      this.finish();
      return;
    }
    this.outstanding = out.filter((m) => m[0] === F.Sync || m[0] === F.Query).length;
    this.sinceSync = false;
    this.upstream.write(Buffer.concat(out));
  }

  private finish(): void {
    if (this.dead) return;
    this.dead = true;
    this.upstream.end();
    this.gate.forget(this);
  }

  private fail(reason: string): void {
    if (this.dead) return;
    if (!this.leaving) this.log.warn({ reason }, 'embedded database connection closed');
    this.destroy();
  }
}

/** Size of the typed message at `pos` (type byte + length), null when the header is incomplete, -1 when invalid. */
function typedSize(buf: Buffer, pos: number): number | null {
  if (buf.length - pos < 5) return null;
  const length = buf.readInt32BE(pos + 1);
  return length < 4 || length > MAX_MESSAGE ? -1 : length + 1;
}

function untypedSize(buf: Buffer, pos: number): number | null {
  if (buf.length - pos < 8) return null;
  const length = buf.readInt32BE(pos);
  return length < 8 || length > MAX_STARTUP_PACKET_LENGTH ? -1 : length;
}

function cstring(buf: Buffer, start: number): string {
  const end = buf.indexOf(0, start);
  return buf.toString('utf8', start, end < 0 ? buf.length : end);
}

function cstringBytes(text: string): Buffer {
  return Buffer.from(`${text}\0`, 'utf8');
}

function frame(type: number, body: Buffer): Buffer {
  const out = Buffer.allocUnsafe(5 + body.length);
  out[0] = type;
  out.writeInt32BE(4 + body.length, 1);
  body.copy(out, 5);
  return out;
}
