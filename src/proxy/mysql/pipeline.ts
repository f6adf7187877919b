import type { Socket } from 'node:net';
import type { Logger } from '../../model/logger.js';
import type { CaptureMode, SessionRecorder } from '../../model/recorder.js';
import type { EndReason } from '../../model/session.js';
import {
  COM_QUERY,
  COM_STMT_EXECUTE,
  ER_NET_READ_ERROR,
  ER_SERVER_SHUTDOWN,
  ER_UNKNOWN_ERROR,
  isLatin1Collation,
  PacketFramer,
  type ServerError,
  StatementRegistry,
} from '../../protocol/mysql/index.js';
import { endSockets } from '../end-sockets.js';
import { Forwarder } from '../forwarder.js';
import { notRecordedMessage } from '../not-recorded.js';
import { ProgressDeadline } from '../progress-deadline.js';
import type { StopReason } from '../session-registry.js';
import { readChunks } from '../socket-chunks.js';
import { SocketWriter } from '../socket-writes.js';
import { ClientStream } from './client-stream.js';
import { CommandHandler } from './commands.js';
import { errPacket } from './errors.js';
import type { PolicyGate } from './policy-gate.js';
import type { ResultShaper } from './policy-results.js';
import { ResponseStream } from './responses.js';
import { SessionEvents } from './session-events.js';

/**
 * The forwarding phase of one MySQL session: client bytes go through ClientStream and
 * CommandHandler, server bytes through ResponseStream, both forwarded as views of the sockets'
 * chunks. Backpressure is per direction: when one side's socket buffer is full, the other side
 * is paused until it drains. In `durability: strict` a statement waits for its record first.
 */

export interface MysqlPipelineOptions {
  readonly client: Socket;
  readonly upstream: Socket;
  readonly clientLeftover: Buffer;
  readonly upstreamLeftover: Buffer;
  readonly clientCapabilities: number;
  /** The collation id of the client's handshake (its character set). */
  readonly clientCollation: number;
  readonly upstreamCapabilities: number;
  readonly recorder: SessionRecorder;
  /** False when nothing is recorded: statements and rows are then not decoded. */
  readonly observe: boolean;
  /** durability: strict: a statement goes upstream only once its record is durable. */
  readonly strict: boolean;
  readonly capture: CaptureMode;
  readonly maxRows: number;
  readonly maxMessageSize: number;
  readonly localInfile: boolean;
  /** The access policy's statement checks; null: the session's roles need none. */
  readonly policy: PolicyGate | null;
  /** max_rows / masking of results; null: rows pass untouched. */
  readonly shaper: ResultShaper | null;
  /** A `read` grant: the upstream session runs in read-only transaction mode (commands.ts). */
  readonly readOnly: boolean;
  /** The target's name and upstream database when they differ (COM_INIT_DB, commands.ts). */
  readonly targetDatabase: { readonly name: string; readonly database: string } | null;
  readonly resolveKill: (id: number, query: boolean) => number | null;
  /** Stop the upstream's running statement from a side connection (client vanished, session killed). */
  readonly killUpstreamQuery: (done?: () => void) => void;
  readonly log: Logger;
  readonly onEnd: (reason: EndReason, detail?: string) => void;
}

/** Commands up to this size are held until whole (and can be changed); bigger ones stream through. */
const HOLD_LIMIT = 1 << 20;
/**
 * Longest wait, without progress, for the end of a server packet half forwarded before dbtape's
 * closing ERR (progress: server bytes arriving, the client draining what it was sent).
 * Seconds, not less: the client's draining shows only as the socket's 'drain', and the kernel
 * reports a socket writable again only once a good part of its send buffer is free, which on
 * loopback grows to megabytes: a client reading steadily at 1 MB/s showed no progress for 2 s.
 */
const ERR_WAIT_MS = 10_000;
/** MariaDB's ER_CONNECTION_KILLED, for a session an administrator ends. */
const ER_CONNECTION_KILLED: ServerError = { errno: 1927, sqlState: '70100' };

/** What `durability: strict` holds back until recorded. */
const STATEMENTS = new Set([COM_QUERY, COM_STMT_EXECUTE]);

export class MysqlPipeline {
  private readonly events: SessionEvents;
  private readonly responses: ResponseStream;
  private readonly commands: CommandHandler;
  private readonly framer = new PacketFramer();
  private readonly stream: ClientStream;
  /** Every write to the client and to the server once the pipeline exists goes through these. */
  private readonly clientOut: SocketWriter;
  private readonly upstreamOut: SocketWriter;
  private readonly toUpstream: Forwarder;
  private readonly toClient: Forwarder;
  private inClientChunk = false;
  private inServerChunk = false;
  private ended = false;
  /**
   * dbtape ends the session (a client's protocol error, an administrator's kill) while a server
   * packet is half forwarded: the client is no longer read, and this ERR follows the rest of that
   * packet.
   */
  private closing: {
    readonly error: ServerError;
    readonly message: string;
    /** Sequence id of the ERR when no response is under way. */
    readonly seq: number;
    readonly end: EndReason;
    readonly detail: string;
  } | null = null;
  /** Ends a closing session that gets no nearer the packet's end; re-armed by every step towards it. */
  private closingDeadline: ProgressDeadline | null = null;
  /** The client is paused while a strict-mode statement waits for its record... */
  private waiting = false;
  /** ...or while the upstream's socket buffer is full... */
  private backpressured = false;
  /**
   * ...or while a statement dbtape stopped at max_rows winds down: until its KILL QUERY has been
   * run and its response has ended, no other statement may start (the KILL could hit it).
   */
  private stopping: { killed: boolean } | null = null;
  /** Strict mode: bytes a statement sends upstream, held until its record is durable. */
  private captured: Buffer[] | null = null;
  private readonly queued: Buffer[] = [];

  constructor(private readonly o: MysqlPipelineOptions) {
    this.events = new SessionEvents(o.recorder, o.observe, o.capture, o.maxRows);
    this.clientOut = new SocketWriter(o.client, () => {
      this.closingDeadline?.progress();
      o.upstream.resume();
    });
    this.upstreamOut = new SocketWriter(o.upstream, () => {
      this.backpressured = false;
      this.clientFlow();
    });
    this.toUpstream = new Forwarder(this.upstreamOut);
    this.toClient = new Forwarder(this.clientOut);
    const statements = new StatementRegistry();
    this.responses = new ResponseStream({
      clientCapabilities: o.clientCapabilities,
      upstreamCapabilities: o.upstreamCapabilities,
      localInfile: o.localInfile,
      events: this.events,
      statements,
      log: o.log,
      toClient: {
        part: (b) => this.sendClient(b),
        range: (chunk, start, end) => {
          if (this.inServerChunk) this.toClient.range(chunk, start, end);
          else this.sendClient(chunk.subarray(start, end));
        },
      },
      decodeDeferred: (p) => this.commands.decodeDeferred(p),
      infileRequested: (clientSeq, shift) => this.stream.expectInfile(clientSeq, shift),
      policy: o.policy,
      shaper: o.shaper,
      // A KILL QUERY can only cost unread rows on a read-only session; strict mode holds the client itself.
      stopAtCap:
        o.readOnly && o.shaper?.maxRows != null && o.policy !== null && !o.strict
          ? () => this.stopAtCap()
          : null,
    });
    this.commands = new CommandHandler({
      capabilities: o.clientCapabilities,
      latin1Client: isLatin1Collation(o.clientCollation),
      observe: o.observe,
      events: this.events,
      statements,
      responses: this.responses,
      toUpstream: (b) => this.sendUpstream(b),
      toUpstreamRange: (start, end) => this.sendUpstreamRange(start, end),
      resolveKill: o.resolveKill,
      policy: o.policy,
      shaper: o.shaper,
      readOnly: o.readOnly,
      targetDatabase: o.targetDatabase,
    });
    this.stream = new ClientStream(
      {
        forward: {
          part: (b) => this.toUpstream.add(b),
          range: (chunk, start, end) => this.toUpstream.range(chunk, start, end),
        },
        command: (payload, rawStart, respSeq) => this.command(payload, rawStart, respSeq),
        streamed: (code, head, total) => this.commands.streamed(code, head, total),
        refuse: (code, respSeq) => this.commands.refuseStreamed(code, respSeq),
        infileDone: (bytes) => this.events.localInfile(bytes),
        violation: (e, message, seq) => this.protocolError(e, message, seq),
      },
      {
        maxMessageSize: o.maxMessageSize,
        // Strict mode holds every command: its record must be durable before any of it goes on. So
        // does the policy: a statement is decided from its whole text before any of it goes on.
        holdLimit: o.strict || o.policy !== null ? o.maxMessageSize + 1 : HOLD_LIMIT,
        keepHead: o.observe,
      },
    );
  }

  start(): void {
    const { client, upstream } = this.o;
    client.setNoDelay(true);
    upstream.setNoDelay(true);
    readChunks(client, (chunk) => this.guard('client_lost', () => this.fromClient(chunk)));
    readChunks(upstream, (chunk) => this.guard('upstream_lost', () => this.fromUpstream(chunk)));
    client.on('error', (err) => this.o.log.debug({ err: err.message }, 'client socket error'));
    upstream.on('error', (err) => this.o.log.debug({ err: err.message }, 'upstream socket error'));
    client.on('close', () => this.clientGone());
    upstream.on('close', () => this.upstreamGone());
    client.resume();
    // Before the client's first command reaches the server.
    this.commands.readOnlyUpstream();
    if (this.o.upstreamLeftover.length) this.fromUpstream(this.o.upstreamLeftover);
    if (this.o.clientLeftover.length) this.fromClient(this.o.clientLeftover);
  }

  /**
   * A bug met while handling one session's bytes ends that session only, never the process
   * (every decoder returns errors as values; this is the last line of defence).
   */
  private guard(reason: EndReason, work: () => void): void {
    try {
      work();
    } catch (err) {
      this.o.log.error(
        { err: (err as Error).message, stack: (err as Error).stack },
        'internal error; closing the session',
      );
      this.finish(reason, `dbtape: internal error: ${(err as Error).message}`);
    }
  }

  /**
   * End the session on an administrator's request or at shutdown; the client gets a clear error
   * (the server's own codes for a killed connection and for a shutdown).
   */
  kill(reason: string, end: StopReason = 'killed'): void {
    if (this.ended || this.closing) return;
    if (this.responses.busy) this.o.killUpstreamQuery();
    const error = end === 'proxy_shutdown' ? ER_SERVER_SHUTDOWN : ER_CONNECTION_KILLED;
    this.closeBetweenPackets(error, `dbtape: ${reason}`, 0, end, reason);
  }

  // ---- client → server -------------------------------------------------------------

  private fromClient(chunk: Buffer): void {
    if (this.ended || this.closing || this.commands.quit) return;
    if (this.waiting) {
      this.queued.push(chunk); // arrived before the pause took effect
      return;
    }
    this.framer.push(chunk);
    this.pump();
  }

  /** Go through the current client chunk; stops early while a strict-mode statement waits. */
  private pump(): void {
    const chunk = this.framer.current;
    const fwd = this.toUpstream;
    this.inClientChunk = true;
    fwd.begin(chunk);
    while (!this.ended && !this.waiting && this.framer.next()) {
      if (!this.stream.segment(chunk, this.framer.segment)) break;
    }
    fwd.finish();
    this.inClientChunk = false;
    if (!fwd.ok) {
      fwd.ok = true;
      this.backpressured = true;
    }
    this.clientFlow();
  }

  private clientFlow(): void {
    if (this.waiting || this.backpressured || this.stopping) this.o.client.pause();
    else this.o.client.resume();
  }

  /**
   * max_rows: stop the statement upstream rather than read the rest of its result (see
   * ResponseStream: one SELECT sent alone, on a read-only session). MariaDB discards a KILL QUERY
   * that reaches an idle connection, so the only statement it could hit by mistake is one sent
   * after it: the client is not read until the KILL has run and the stopped response has ended.
   */
  private stopAtCap(): void {
    const stopping = { killed: false };
    this.stopping = stopping;
    this.clientFlow();
    this.o.killUpstreamQuery(() => {
      stopping.killed = true;
      this.releaseClient();
    });
  }

  private releaseClient(): void {
    if (!this.stopping?.killed || this.responses.stopInFlight) return;
    this.stopping = null;
    if (!this.ended) this.clientFlow();
  }

  /**
   * A whole held command. In strict mode a statement's bytes go upstream only once its record
   * is durable; the client is paused meanwhile (the framer keeps the chunk, so views stay valid).
   */
  private command(payload: Buffer, rawStart: number, respSeq: number): void {
    if (!(this.o.strict && this.o.observe && STATEMENTS.has(payload[0]))) {
      this.commands.handle(payload, rawStart, respSeq);
      return;
    }
    const captured: Buffer[] = [];
    this.captured = captured;
    this.commands.handle(payload, rawStart, respSeq);
    this.captured = null;
    if (captured.length === 0) return; // dbtape answered it itself
    this.waiting = true;
    this.o.recorder
      .durable()
      .then(
        () => {
          if (!this.ended && !this.upstreamOut.writev(captured)) this.backpressured = true;
        },
        (err: Error) => {
          const message = notRecordedMessage(err);
          this.o.log.warn({ err: err.message }, 'statement refused: its record could not be made durable');
          this.events.refusal(ER_UNKNOWN_ERROR.errno, ER_UNKNOWN_ERROR.sqlState, message);
          this.responses.replaceLast(errPacket(ER_UNKNOWN_ERROR, message, respSeq));
        },
      )
      .finally(() => {
        this.waiting = false;
        if (this.ended || this.closing) return;
        this.guard('client_lost', () => {
          this.pump();
          while (!this.waiting && !this.ended && this.queued.length > 0) {
            this.framer.push(this.queued.shift()!);
            this.pump();
          }
        });
      });
  }

  // ---- server → client -------------------------------------------------------------

  private fromUpstream(data: Buffer): void {
    if (this.ended) return;
    // While closing only the rest of the packet being forwarded goes on; the ERR follows.
    const end = this.closing ? this.responses.packetEnd(data) : -1;
    this.closingDeadline?.progress();
    const chunk = end >= 0 ? data.subarray(0, end) : data;
    const fwd = this.toClient;
    this.inServerChunk = true;
    fwd.begin(chunk);
    this.responses.feed(chunk);
    fwd.finish();
    this.inServerChunk = false;
    const violation = this.responses.serverViolation;
    if (violation !== null) {
      // The client has had dbtape's ERR in the response's place.
      this.o.log.warn({ reason: violation }, 'server protocol violation; closing');
      this.finish('upstream_lost', `dbtape: ${violation}`);
      return;
    }
    if (!fwd.ok) {
      fwd.ok = true;
      this.o.upstream.pause();
    }
    if (this.stopping) this.releaseClient();
    if (this.closing && !this.ended && this.responses.betweenPackets) this.endClosing();
  }

  private sendClient(b: Buffer): void {
    if (this.inServerChunk) this.toClient.add(b);
    else if (!this.o.client.destroyed) this.clientOut.write(b);
  }

  /** Bytes of the client chunk being read: coalesced with the rest of it unless strict mode holds them. */
  private sendUpstreamRange(start: number, end: number): void {
    const chunk = this.framer.current;
    if (this.captured === null && this.inClientChunk) this.toUpstream.range(chunk, start, end);
    else this.sendUpstream(chunk.subarray(start, end));
  }

  private sendUpstream(b: Buffer): void {
    if (this.captured !== null) this.captured.push(b);
    else if (this.inClientChunk) this.toUpstream.add(b);
    else if (!this.o.upstream.destroyed) this.upstreamOut.write(b);
  }

  // ---- endings ---------------------------------------------------------------------

  private protocolError(e: ServerError, message: string, seq: number): void {
    // After COM_QUIT the server reads nothing more, and neither does dbtape: the client said goodbye.
    if (this.ended || this.closing || this.commands.quit) return;
    this.o.log.warn({ reason: message }, 'client protocol violation; closing');
    this.events.refusal(e.errno, e.sqlState, message);
    this.closeBetweenPackets(e, message, seq, 'protocol_error', message);
  }

  /**
   * End the session with dbtape's ERR. An ERR inside a half-forwarded server packet would break the
   * client's framing: it follows the packet's end (a server that does not get there in time ends the
   * session without it).
   */
  private closeBetweenPackets(
    error: ServerError,
    message: string,
    seq: number,
    end: EndReason,
    detail: string,
  ): void {
    this.closing = { error, message, seq, end, detail };
    if (this.responses.betweenPackets) {
      this.endClosing();
      return;
    }
    this.closingDeadline = new ProgressDeadline(ERR_WAIT_MS, () => this.finish(end, detail));
  }

  /** dbtape's ERR, between server packets: within a response, it takes the next sequence id. */
  private endClosing(): void {
    const c = this.closing!;
    this.sendClient(
      errPacket(c.error, c.message, this.responses.busy ? this.responses.nextClientSeq : c.seq),
    );
    this.finish(c.end, c.detail);
  }

  private clientGone(): void {
    if (this.ended) return;
    if (this.closing) {
      this.finish(this.closing.end, this.closing.detail);
      return;
    }
    // A server busy with a long statement would not notice the closed socket until it writes.
    if (!this.commands.quit && this.responses.busy) this.o.killUpstreamQuery();
    this.finish(this.commands.quit ? 'client_closed' : 'client_lost');
  }

  private upstreamGone(): void {
    if (this.ended) return;
    if (this.closing) {
      this.finish(this.closing.end, this.closing.detail);
      return;
    }
    if (this.commands.quit) {
      this.finish('client_closed');
      return;
    }
    if (this.responses.upstreamSentError) {
      this.finish('upstream_closed');
      return;
    }
    // Only a client waiting for a response can take an ERR in turn; an idle one sees the close, and
    // so does one in the middle of a packet the server's loss cut off (the ERR would be read as its bytes).
    if (this.responses.busy && this.responses.betweenPackets) {
      this.sendClient(
        errPacket(
          ER_NET_READ_ERROR,
          'dbtape: lost the connection to the database server',
          this.responses.nextClientSeq,
        ),
      );
    }
    this.finish('upstream_lost');
  }

  private finish(reason: EndReason, detail?: string): void {
    if (this.ended) return;
    this.ended = true;
    this.closingDeadline?.cancel();
    endSockets(this.clientOut, this.upstreamOut);
    if (!this.responses.busy) this.events.sessionEnded();
    this.o.onEnd(reason, detail);
  }
}
