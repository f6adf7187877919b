import type { Socket } from 'node:net';
import type { Logger } from '../../model/logger.js';
import type { CaptureMode, SessionRecorder } from '../../model/recorder.js';
import type { EndReason } from '../../model/session.js';
import { B, F } from '../../protocol/postgres/codes.js';
import {
  decodeBind,
  decodeCommandComplete,
  decodeExecute,
  decodeFunctionCall,
  decodeNotice,
  decodeNotification,
  decodeParameterDescription,
  decodeParse,
  decodeQuery,
  decodeRowDescription,
  decodeTarget,
} from '../../protocol/postgres/decode.js';
import { errorResponse, readyForQuery } from '../../protocol/postgres/encode.js';
import { type FrameHandler, Framer, Mode, modeTable } from '../../protocol/postgres/framer.js';
import { SqlState } from '../../protocol/postgres/sqlstate.js';
import { Forwarder } from '../forwarder.js';
import { StrictGate } from './strict-gate.js';
import { PgTracker } from './tracker.js';

/**
 * The forwarding phase of one PostgreSQL session: bytes flow client ⇄ upstream as they
 * arrive, written on unchanged; the framers only look at headers, and at the bodies of
 * the few message types the recording needs. Backpressure is per direction: when one
 * side's socket buffer is full, the other side is paused until it drains.
 */

export interface PipelineOptions {
  readonly client: Socket;
  readonly upstream: Socket;
  /** Bytes already received from each side during the handshake, not yet forwarded. */
  readonly clientLeftover: Buffer;
  readonly upstreamLeftover: Buffer;
  readonly recorder: SessionRecorder;
  /**
   * False when nothing is recorded: client bytes are then forwarded whole like server
   * bytes, and the framers only check framing and count what lifecycle handling needs.
   */
  readonly observe: boolean;
  /** `durability: strict`: statements wait for their record to be durable before they are forwarded. */
  readonly strict: boolean;
  readonly capture: CaptureMode;
  readonly maxRows: number;
  readonly maxMessageSize: number;
  readonly log: Logger;
  /** Cancel the upstream's running query (used when the client vanishes mid-query). */
  readonly cancelUpstream: () => void;
  readonly onEnd: (reason: EndReason, detail?: string) => void;
}

/** Frontend types that are forwarded after inspection; anything else is invalid. */
const CLIENT_MODES = modeTable(Mode.Invalid, [
  [F.Query, Mode.Inspect],
  [F.Parse, Mode.Inspect],
  [F.Bind, Mode.Inspect],
  [F.Execute, Mode.Inspect],
  [F.Describe, Mode.Inspect],
  [F.Close, Mode.Inspect],
  [F.Sync, Mode.Inspect],
  [F.Flush, Mode.Inspect],
  [F.FunctionCall, Mode.Inspect],
  [F.CopyData, Mode.Pass],
  [F.CopyDone, Mode.Inspect],
  [F.CopyFail, Mode.Inspect],
  [F.Terminate, Mode.Inspect],
]);

const SERVER_INSPECT = [
  B.CommandComplete,
  B.ErrorResponse,
  B.ReadyForQuery,
  B.RowDescription,
  B.ParseComplete,
  B.BindComplete,
  B.CloseComplete,
  B.NoData,
  B.ParameterDescription,
  B.EmptyQueryResponse,
  B.PortalSuspended,
  B.FunctionCallResponse,
  B.CopyInResponse,
  B.CopyOutResponse,
  B.NoticeResponse,
  B.NotificationResponse,
] as const;

/** Unobserved sessions decode only Terminate; everything else valid is skipped (counted). */
const CLIENT_MODES_UNOBSERVED = modeTable(Mode.Invalid, [
  ...[...CLIENT_MODES.entries()].filter(([, m]) => m !== Mode.Invalid).map(([t]) => [t, Mode.Skip] as const),
  [F.Terminate, Mode.Inspect],
]);

/** Servers are trusted to frame correctly; we never hold a server message for its size. */
const SERVER_MAX_BODY = 0x7fff_ffff;

export class PgPipeline {
  private readonly tracker: PgTracker;
  private readonly clientFramer: Framer;
  private readonly serverFramer: Framer;
  private readonly toUpstream: Forwarder;
  private ended = false;
  private terminated = false;
  private upstreamSaidFatal = false;
  /** Requests sent upstream and not yet answered by ReadyForQuery: a query may be running. */
  private busy = 0;
  private readonly gate: StrictGate | null;
  /** Resolved when `busy` drops to the given count (a refused batch waits for earlier answers). */
  private idleWaiter: { below: number; resolve: () => void } | null = null;

  constructor(private readonly o: PipelineOptions) {
    this.gate = o.observe && o.strict ? this.strictGate() : null;
    this.tracker = new PgTracker(o.recorder, o.capture, o.maxRows);
    this.toUpstream = new Forwarder(o.upstream);
    const clientModes = new Uint8Array(o.observe ? CLIENT_MODES : CLIENT_MODES_UNOBSERVED);
    this.clientFramer = new Framer(clientModes, o.maxMessageSize, this.clientHandler());
    const inspected = o.observe ? SERVER_INSPECT : [B.ErrorResponse];
    const serverModes = modeTable(
      Mode.Skip,
      inspected.map((t) => [t, Mode.Inspect] as const),
    );
    if (o.observe && o.capture === 'rows') serverModes[B.DataRow] = Mode.Inspect;
    this.serverFramer = new Framer(serverModes, SERVER_MAX_BODY, this.serverHandler());
  }

  start(): void {
    const { client, upstream } = this.o;
    client.setNoDelay(true);
    upstream.setNoDelay(true);
    client.on('data', (chunk: Buffer) => this.fromClient(chunk));
    upstream.on('data', (chunk: Buffer) => this.fromUpstream(chunk));
    client.on('drain', () => upstream.resume());
    upstream.on('drain', () => client.resume());
    client.on('error', (err) => this.o.log.debug({ err: err.message }, 'client socket error'));
    upstream.on('error', (err) => this.o.log.debug({ err: err.message }, 'upstream socket error'));
    client.on('close', () => this.clientGone());
    upstream.on('close', () => this.upstreamGone());
    // The handshake left the client paused; resume before the leftovers, which may pause it again.
    client.resume();
    if (this.o.upstreamLeftover.length) this.fromUpstream(this.o.upstreamLeftover);
    if (this.o.clientLeftover.length) this.fromClient(this.o.clientLeftover);
  }

  /** End the session on an administrator's request; the client gets a clear error. */
  kill(reason: string): void {
    if (this.ended) return;
    this.sendFatal(SqlState.AdminShutdown, `dbtape: ${reason}`);
    if (this.busy > 0) this.o.cancelUpstream();
    this.finish('killed', reason);
  }

  private fromClient(chunk: Buffer): void {
    if (!this.o.observe) {
      // Nothing to record: forward the chunk whole, as for server bytes, and let the
      // framer check it; a violation still ends the session (after PostgreSQL saw it).
      if (!this.o.upstream.write(chunk)) this.o.client.pause();
      this.clientFramer.feed(chunk);
      return;
    }
    const fwd = this.toUpstream;
    fwd.begin(chunk);
    this.clientFramer.feed(chunk);
    fwd.finish();
    if (!fwd.ok) {
      fwd.ok = true;
      this.o.client.pause();
    }
  }

  private fromUpstream(chunk: Buffer): void {
    // Server → client bytes are forwarded whole before they are looked at.
    if (!this.o.client.write(chunk)) this.o.upstream.pause();
    this.serverFramer.feed(chunk);
  }

  private clientHandler(): FrameHandler {
    const t = this.tracker;
    return {
      message: (type, body, raw) => {
        if (this.gate) {
          this.gate.push(type, raw, true);
          return;
        }
        try {
          this.onClientMessage(type, body);
        } catch (err) {
          this.protocolError(`malformed ${String.fromCharCode(type)} message: ${(err as Error).message}`);
          return;
        }
        if (this.o.observe) this.toUpstream.add(raw);
      },
      skipped: (type) => {
        if (type === F.Query || type === F.Sync || type === F.FunctionCall) this.busy++;
      },
      pass: (type, bytes, first) => {
        t.copyDataIn(first ? bytes.length - 5 : bytes.length);
        if (this.gate) this.gate.push(type, bytes, false);
        else this.toUpstream.add(bytes);
      },
      invalid: (reason) => this.protocolError(reason),
    };
  }

  private onClientMessage(type: number, body: Buffer): void {
    const t = this.tracker;
    switch (type) {
      case F.Query:
        this.busy++;
        t.query(decodeQuery(body));
        return;
      case F.Parse:
        t.parse(decodeParse(body));
        return;
      case F.Bind:
        t.bind(decodeBind(body));
        return;
      case F.Execute:
        t.execute(decodeExecute(body).portal);
        return;
      case F.Describe: {
        const d = decodeTarget(body);
        t.describe(d.what, d.name);
        return;
      }
      case F.Close: {
        const c = decodeTarget(body);
        t.close(c.what, c.name);
        return;
      }
      case F.Sync:
        this.busy++;
        t.sync();
        return;
      case F.FunctionCall:
        this.busy++;
        t.functionCall(decodeFunctionCall(body));
        return;
      case F.Terminate:
        this.terminated = true;
        return;
    }
  }

  private serverHandler(): FrameHandler {
    const t = this.tracker;
    return {
      message: (type, body) => {
        try {
          this.onServerMessage(type, body);
        } catch (err) {
          // The bytes were already forwarded; a message we cannot decode only costs its record.
          this.o.log.warn(
            { err: (err as Error).message, type: String.fromCharCode(type) },
            'undecodable server message',
          );
        }
      },
      skipped: (type, bodyLength) => {
        if (!this.o.observe) {
          if (type === B.ReadyForQuery && this.busy > 0) this.busy--;
          return;
        }
        if (type === B.DataRow) t.dataRow(null);
        else if (type === B.CopyData) t.copyDataOut(bodyLength);
      },
      pass: () => {},
      invalid: (reason) => {
        this.o.log.warn({ reason }, 'upstream sent an invalid message');
        this.finish('upstream_lost', reason);
      },
    };
  }

  private onServerMessage(type: number, body: Buffer): void {
    const t = this.tracker;
    switch (type) {
      case B.DataRow:
        t.dataRow(body);
        return;
      case B.CommandComplete:
        t.commandComplete(decodeCommandComplete(body));
        return;
      case B.ReadyForQuery:
        if (this.busy > 0) this.busy--;
        t.readyForQuery(body[0]);
        if (this.idleWaiter && this.busy <= this.idleWaiter.below) {
          this.idleWaiter.resolve();
          this.idleWaiter = null;
        }
        return;
      case B.RowDescription:
        t.rowDescription(this.o.capture === 'none' ? [] : decodeRowDescription(body));
        return;
      case B.ErrorResponse: {
        const n = decodeNotice(body);
        if (n.severity === 'FATAL' || n.severity === 'PANIC') this.upstreamSaidFatal = true;
        if (this.o.observe) t.error(n);
        return;
      }
      case B.ParseComplete:
        t.parseComplete();
        return;
      case B.BindComplete:
        t.bindComplete();
        return;
      case B.CloseComplete:
        t.closeComplete();
        return;
      case B.NoData:
        t.noData();
        return;
      case B.ParameterDescription:
        t.parameterDescription(decodeParameterDescription(body));
        return;
      case B.EmptyQueryResponse:
        t.emptyQuery();
        return;
      case B.PortalSuspended:
        t.portalSuspended();
        return;
      case B.FunctionCallResponse:
        t.functionResult();
        return;
      case B.CopyInResponse:
        t.copyResponse('in');
        return;
      case B.CopyOutResponse:
        t.copyResponse('out');
        return;
      case B.NoticeResponse:
        t.notice(decodeNotice(body));
        return;
      case B.NotificationResponse: {
        const n = decodeNotification(body);
        t.notification(n.channel, n.payload);
        return;
      }
    }
  }

  private strictGate(): StrictGate {
    return new StrictGate({
      handle: (type, body) => this.onClientMessage(type, body),
      malformed: (type, err) =>
        this.protocolError(`malformed ${String.fromCharCode(type)} message: ${err.message}`),
      forward: (parts) => {
        const up = this.o.upstream;
        up.cork();
        let ok = true;
        for (const p of parts) ok = up.write(p) && ok;
        up.uncork();
        if (!ok) this.o.client.pause();
      },
      durable: () => this.o.recorder.durable(),
      refuse: (err, last, batch) => this.refuse(err, last, batch),
      pauseClient: () => this.o.client.pause(),
      resumeClient: () => this.o.client.resume(),
    });
  }

  /**
   * Answer a batch that was not forwarded, as the server would have: one error, then
   * ReadyForQuery where the batch asked for one. Earlier batches are answered first.
   */
  private async refuse(err: Error, last: number, batch: readonly Buffer[]): Promise<void> {
    let own = 0;
    for (const m of batch) if (m[0] === F.Query || m[0] === F.Sync || m[0] === F.FunctionCall) own++;
    if (this.busy > own) {
      await new Promise<void>((resolve) => {
        this.idleWaiter = { below: own, resolve };
      });
    }
    if (this.ended) return;
    this.o.log.warn({ err: err.message }, 'statement refused: its record could not be made durable');
    const message = `dbtape: the statement was not run because it could not be recorded: ${err.message}`;
    const client = this.o.client;
    if (batch.length > 0) {
      client.write(errorResponse({ severity: 'ERROR', code: SqlState.IoError, message }));
      this.tracker.error({ severity: 'ERROR', code: SqlState.IoError, message });
    }
    if (last === F.Query || last === F.Sync || last === F.FunctionCall) {
      this.busy -= own;
      const status = this.tracker.status;
      client.write(readyForQuery(status));
      this.tracker.readyForQuery(status.charCodeAt(0));
    }
  }

  private protocolError(reason: string): void {
    if (this.ended) return;
    this.o.log.warn({ reason }, 'client protocol violation; closing');
    this.sendFatal(SqlState.ProtocolViolation, `dbtape: protocol violation: ${reason}`);
    this.finish('protocol_error', reason);
  }

  private clientGone(): void {
    if (this.ended) return;
    // A backend busy with a long query would not notice the closed socket until it
    // writes; cancel the query so the backend goes away promptly.
    if (!this.terminated && this.busy > 0) this.o.cancelUpstream();
    this.finish(this.terminated ? 'client_closed' : 'client_lost');
  }

  private upstreamGone(): void {
    if (this.ended) return;
    // After the client's Terminate the server hanging up is the normal end of the session,
    // and a FATAL "lost the connection" would reach a client that is still reading.
    if (this.terminated) {
      this.finish('client_closed');
      return;
    }
    if (this.upstreamSaidFatal) {
      this.finish('upstream_closed');
      return;
    }
    this.sendFatal(SqlState.ConnectionFailure, 'dbtape: lost the connection to the database server');
    this.finish('upstream_lost');
  }

  private sendFatal(code: string, message: string): void {
    const c = this.o.client;
    if (!c.destroyed && c.writable) c.write(errorResponse({ severity: 'FATAL', code, message }));
  }

  private finish(reason: EndReason, detail?: string): void {
    if (this.ended) return;
    this.ended = true;
    this.gate?.stop();
    const { client, upstream } = this.o;
    client.end();
    upstream.end();
    // Give the peers a moment to read the last bytes, then make sure nothing lingers.
    setTimeout(() => {
      client.destroy();
      upstream.destroy();
    }, 1000).unref();
    this.o.onEnd(reason, detail);
  }
}
