import type { Socket } from 'node:net';
import type { Logger } from '../../model/logger.js';
import type { CaptureMode, SessionRecorder } from '../../model/recorder.js';
import type { EndReason } from '../../model/session.js';
import type { Decision, PolicyEngine } from '../../policy/index.js';
import { B, F } from '../../protocol/postgres/codes.js';
import {
  decodeBind,
  decodeCommandComplete,
  decodeFunctionCall,
  decodeNotice,
  decodeNotification,
  decodeParameterDescription,
  decodeParameterStatus,
  decodeParse,
  decodeQuery,
  decodeTarget,
  executePortal,
  type Notice,
  RowDescriptionMemo,
} from '../../protocol/postgres/decode.js';
import {
  errorResponse,
  notificationResponse,
  parameterStatus,
  readyForQuery,
} from '../../protocol/postgres/encode.js';
import { type FrameHandler, Framer, Mode, modeTable } from '../../protocol/postgres/framer.js';
import { rewriteNoticeText } from '../../protocol/postgres/notice-rewrite.js';
import { SqlState } from '../../protocol/postgres/sqlstate.js';
import { WireError } from '../../wire/reader.js';
import { endSockets } from '../end-sockets.js';
import { Forwarder } from '../forwarder.js';
import { notRecordedMessage } from '../not-recorded.js';
import { ProgressDeadline } from '../progress-deadline.js';
import type { StopReason } from '../session-registry.js';
import { readChunks } from '../socket-chunks.js';
import { SocketWriter } from '../socket-writes.js';
import { decodeRowDescriptionWithOrigins, readMaskedOrigins } from './mask-catalog.js';
import { type Denied, PgPolicyGate } from './policy-gate.js';
import { PgResultPolicy, type Truncation } from './policy-results.js';
import { ExecuteFlag, ResultOwners } from './result-owners.js';
import { StandIns } from './stand-ins.js';
import { StreamEditor } from './stream-editor.js';
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
  /** The application name of the client's startup packet (a later one is recorded when reported). */
  readonly application: string | null;
  /** The session's access policy; null (or unrestricted, without max_rows and masking): nothing to check. */
  readonly policy: PolicyEngine | null;
  /**
   * The upstream session runs with default_transaction_read_only (a `read` grant): no statement can
   * write, so stopping a query at `max_rows` loses nothing but unread rows.
   */
  readonly readOnly: boolean;
  readonly log: Logger;
  /**
   * Cancel the upstream's running query (the client vanished mid-query, a session killed, max_rows
   * reached); `done` once the server has taken the request.
   */
  readonly cancelUpstream: (done?: () => void) => void;
  readonly onEnd: (reason: EndReason, detail?: string) => void;
  /** client_encoding as the server reported it at login (statement text is read in it). */
  readonly clientEncoding?: string;
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
  B.ParameterStatus,
] as const;

/** Results followed for max_rows alone (ResultOwners): where they end, and what follows an error. */
const SERVER_INSPECT_OWNERS = [
  B.CommandComplete,
  B.ErrorResponse,
  B.ReadyForQuery,
  B.EmptyQueryResponse,
  B.PortalSuspended,
] as const;

/** Unobserved sessions decode only Terminate; everything else valid is skipped (counted). */
const CLIENT_MODES_UNOBSERVED = modeTable(Mode.Invalid, [
  ...[...CLIENT_MODES.entries()].filter(([, m]) => m !== Mode.Invalid).map(([t]) => [t, Mode.Skip] as const),
  [F.Terminate, Mode.Inspect],
]);

/**
 * Checked but unrecorded sessions: only the messages the policy judges are assembled; the rest
 * streams through the client-side editor untouched.
 */
const CLIENT_MODES_CHECKED = modeTable(Mode.Invalid, [
  ...[...CLIENT_MODES_UNOBSERVED.entries()]
    .filter(([, m]) => m !== Mode.Invalid)
    .map(([t]) => [t, Mode.Skip] as const),
  [F.Query, Mode.Inspect],
  [F.Parse, Mode.Inspect],
  [F.FunctionCall, Mode.Inspect],
  [F.Terminate, Mode.Inspect],
]);

const CATALOG_TIMEOUT_MS = 10_000;
/** Statement names kept per session as plain SELECTs (see noteStatement). */
const MAX_SELECT_NAMES = 10_000;
/**
 * Longest wait, without progress, for the end of a server message half forwarded before dbtape's
 * closing FATAL (progress: server bytes arriving, the client draining what it was sent).
 * Seconds, not less: the client's draining shows only as the socket's 'drain', and the kernel
 * reports a socket writable again only once a good part of its send buffer is free, which on
 * loopback grows to megabytes: a client reading steadily at 1 MB/s showed no progress for 2 s.
 */
const FATAL_WAIT_MS = 10_000;

/** ReadyForQuery status: idle, outside any transaction block. */
const IDLE = 0x49;

/** Flush ('H'): the server sends what it has buffered. */
const FLUSH = Buffer.from([0x48, 0, 0, 0, 4]);

/**
 * A statement's text as the policy reads it: bytes that are not UTF-8 become U+FFFD, which the
 * classifier fails closed on (the server might read those bytes differently). The recording keeps
 * its own lossless decoding (decodeQuery/decodeParse).
 */
function policyText(body: Buffer, from: number): string {
  const end = from < 0 ? -1 : body.indexOf(0, from);
  if (end < 0) throw new WireError('string without terminating NUL');
  return body.toString('utf8', from, end);
}

/**
 * Whether a client chunk may hold a message the policy judges (Query, Parse, FunctionCall), or with
 * `execute` an Execute (which may get a row limit), read from the message headers from `at`; true
 * when unsure. A chunk without one is forwarded whole, before it is framed, as without policy (a
 * prepared statement's Bind/Execute/Sync never waits for a decision).
 */
function holdsStatement(chunk: Buffer, at: number, execute: boolean): boolean {
  if (at < 0) return true;
  while (at < chunk.length) {
    const type = chunk[at];
    if (type === F.Query || type === F.Parse || type === F.FunctionCall) return true;
    if (execute && type === F.Execute) return true;
    if (at + 5 > chunk.length) return false;
    const length = chunk.readUInt32BE(at + 1);
    // A length PostgreSQL would reject: let the framer see it before any byte goes on.
    if (length < 4) return true;
    at += 1 + length;
  }
  return false;
}

/** Servers are trusted to frame correctly; we never hold a server message for its size. */
const SERVER_MAX_BODY = 0x7fff_ffff;

export class PgPipeline {
  private readonly tracker: PgTracker;
  /** Whether the tracker follows the session: for the recording, or for masking. */
  private readonly track: boolean;
  /** max_rows on a session neither recorded nor masked: results are followed from a few messages. */
  private readonly owners: ResultOwners | null;
  private readonly policyGate: PgPolicyGate | null;
  /** Policy denials' and strict refusals' stand-ins (stand-ins.ts), when either can happen. */
  private readonly standIns: StandIns | null;
  private readonly results: PgResultPolicy | null;
  /** Server → client edits (stand-in errors, dropped and masked rows); null without policy. */
  private readonly replies: StreamEditor | null;
  /** Client → server edits for checked sessions that are not recorded (no per-message forwarding). */
  private readonly requests: StreamEditor | null;
  /** Every write to the client and to the server once the pipeline exists goes through these. */
  private readonly clientOut: SocketWriter;
  private readonly upstreamOut: SocketWriter;
  private readonly toClient: Forwarder;
  private readonly clientFramer: Framer;
  private readonly serverFramer: Framer;
  private readonly toUpstream: Forwarder;
  private readonly rowDescriptions = new RowDescriptionMemo();
  private ended = false;
  /**
   * dbtape ends the session (a client's protocol error, an administrator's kill) while a server
   * message is half forwarded: the client is no longer read, and this FATAL follows the rest of that
   * message.
   */
  private closing: {
    readonly code: string;
    readonly message: string;
    readonly end: EndReason;
    readonly detail: string;
  } | null = null;
  /** Ends a closing session that gets no nearer the message's end; re-armed by every step towards it. */
  private closingDeadline: ProgressDeadline | null = null;
  private terminated = false;
  private upstreamSaidFatal = false;
  /** Requests sent upstream and not yet answered by ReadyForQuery: a query may be running. */
  private busy = 0;
  private readonly gate: StrictGate | null;
  /** Resolved when `busy` drops to the given count (a refused batch waits for earlier answers). */
  private idleWaiter: { below: number; resolve: () => void } | null = null;
  /** max_rows may stop the upstream's query once the cap is passed (see stopAtCap). */
  private readonly canStop: boolean;
  /**
   * Names of the prepared statements the policy judged one plain SELECT, on a read role's session
   * with max_rows (else null): an Execute of their unnamed portal that asks for every row gets the
   * row limit max_rows + 1 upstream (see limitExecute).
   */
  private readonly selects: Set<string> | null;
  /** The unnamed portal was bound from one of `selects`. */
  private unnamedSelect = false;
  /** The unnamed portal was bound and not yet executed. */
  private unnamedFresh = false;
  /** The status of the last ReadyForQuery. */
  private lastStatus = IDLE;
  /** The Query in flight is one plain SELECT. */
  private oneSelect = false;
  /**
   * Client messages sent since the last Query, Sync or FunctionCall: extended-protocol messages run
   * without waiting for their Sync, so a cancel meant for the Query could hit one of them.
   */
  private afterUnit = 0;
  /** The running result passed the cap and may be stopped (decided at the end of the chunk). */
  private stopWanted = false;
  /** A cancel went upstream for a capped result; the client is not read until the server is done. */
  private stopping: { cancelTaken: boolean; ready: boolean } | null = null;

  constructor(private readonly o: PipelineOptions) {
    const engine = o.policy;
    const restricted = engine !== null && !engine.unrestricted;
    this.standIns = restricted || (o.observe && o.strict) ? new StandIns() : null;
    this.policyGate = restricted ? new PgPolicyGate(engine.openSession(), this.standIns!) : null;
    this.results =
      engine && (engine.maxRows !== null || engine.masking !== null)
        ? new PgResultPolicy(engine.maxRows, engine.masking)
        : null;
    this.track = o.observe || this.results?.masking != null;
    this.gate = o.observe && o.strict ? this.strictGate() : null;
    const readCapped = o.readOnly && this.results?.maxRows != null && this.policyGate !== null;
    // Strict mode holds and releases the client itself; the two would fight over its socket.
    this.canStop = readCapped && !this.gate;
    this.selects = readCapped ? new Set() : null;
    this.owners = this.results !== null && (!this.track || readCapped) ? new ResultOwners() : null;
    this.tracker = new PgTracker(o.recorder, o.capture, o.maxRows, o.observe, o.application);
    if (o.clientEncoding) this.tracker.clientEncoding(o.clientEncoding);
    this.clientOut = new SocketWriter(o.client, () => {
      this.closingDeadline?.progress();
      o.upstream.resume();
    });
    this.upstreamOut = new SocketWriter(o.upstream, () => {
      if (!this.stopping) o.client.resume();
    });
    this.toUpstream = new Forwarder(this.upstreamOut);
    this.toClient = new Forwarder(this.clientOut);
    const checked = !this.track && this.policyGate !== null;
    this.requests = checked ? new StreamEditor(this.toUpstream) : null;
    this.replies = this.standIns || this.results ? new StreamEditor(this.toClient) : null;
    const clientModes = new Uint8Array(
      this.track ? CLIENT_MODES : checked ? CLIENT_MODES_CHECKED : CLIENT_MODES_UNOBSERVED,
    );
    // Which portal a result belongs to comes from the Executes' portal names.
    if (this.owners) clientModes[F.Execute] = Mode.Inspect;
    // Which statement the unnamed portal runs comes from its Bind.
    if (this.selects) clientModes[F.Bind] = Mode.Inspect;
    this.clientFramer = new Framer(clientModes, o.maxMessageSize, this.clientHandler());
    const inspected = this.track ? SERVER_INSPECT : this.owners ? SERVER_INSPECT_OWNERS : [B.ErrorResponse];
    const serverModes = modeTable(
      Mode.Skip,
      inspected.map((t) => [t, Mode.Inspect] as const),
    );
    if ((o.observe && o.capture === 'rows') || this.results?.masking) serverModes[B.DataRow] = Mode.Inspect;
    this.serverFramer = new Framer(serverModes, SERVER_MAX_BODY, this.serverHandler());
  }

  start(): void {
    const masking = this.results?.masking;
    if (!masking?.hasColumnRules) {
      this.begin(this.o.upstreamLeftover);
      return;
    }
    readMaskedOrigins(this.upstreamOut, this.o.upstreamLeftover, masking, CATALOG_TIMEOUT_MS).then(
      ({ origins, leftover }) => {
        this.results!.origins = origins;
        if (!this.ended) this.begin(leftover);
      },
      (err: Error) => {
        // Without the origins, column rules would miss aliased columns: refuse rather than leak.
        this.o.log.warn({ err: err.message }, 'could not read the table columns masking rules cover');
        this.sendFatal(SqlState.InternalError, `dbtape: masking rules could not be prepared: ${err.message}`);
        this.finish('upstream_lost', err.message);
      },
    );
  }

  private begin(upstreamLeftover: Buffer): void {
    const { client, upstream } = this.o;
    if (client.destroyed) {
      // The client left while the session was being prepared.
      this.clientGone();
      return;
    }
    client.setNoDelay(true);
    upstream.setNoDelay(true);
    readChunks(client, (chunk) => this.fromClient(chunk));
    readChunks(upstream, (chunk) => this.fromUpstream(chunk));
    client.on('error', (err) => this.o.log.debug({ err: err.message }, 'client socket error'));
    upstream.on('error', (err) => this.o.log.debug({ err: err.message }, 'upstream socket error'));
    client.on('close', () => this.clientGone());
    upstream.on('close', () => this.upstreamGone());
    // The handshake left the client paused; resume before the leftovers, which may pause it again.
    client.resume();
    upstream.resume();
    if (upstreamLeftover.length) this.fromUpstream(upstreamLeftover);
    if (this.o.clientLeftover.length) this.fromClient(this.o.clientLeftover);
  }

  /**
   * End the session on an administrator's request or at shutdown; the client gets a clear error
   * (admin_shutdown, as PostgreSQL sends for both).
   */
  kill(reason: string, end: StopReason = 'killed'): void {
    if (this.ended || this.closing) return;
    if (this.busy > 0) this.o.cancelUpstream();
    this.closeBetweenMessages(SqlState.AdminShutdown, `dbtape: ${reason}`, end, reason);
  }

  private fromClient(chunk: Buffer): void {
    if (this.closing || this.terminated) return;
    const ed = this.requests;
    if (ed !== null || !this.track) {
      // Checked, not recorded: a statement is forwarded only once the policy has allowed it.
      // Nothing to check or record: the chunk goes on whole and the framer checks it after (a
      // violation still ends the session, after PostgreSQL saw it).
      // A read role's Execute may get a row limit (limitExecute): its chunk is edited too.
      const edit =
        ed !== null &&
        (this.policyGate!.discarding || holdsStatement(chunk, ed.nextHeader, this.selects !== null));
      this.passChunk(chunk, ed, edit, this.clientFramer, this.toUpstream, this.upstreamOut, this.o.client);
      return;
    }
    const fwd = this.toUpstream;
    fwd.begin(chunk);
    this.clientFramer.feed(chunk);
    fwd.finish();
    this.pauseIfFull(fwd, this.o.client);
  }

  private fromUpstream(data: Buffer): void {
    // While closing only the rest of the message being forwarded goes on; the FATAL follows.
    const end = this.closing ? this.serverFramer.messageEnd(data) : -1;
    this.closingDeadline?.progress();
    const chunk = end >= 0 ? data.subarray(0, end) : data;
    const edit =
      (this.results?.mayEdit(chunk.length) ?? false) ||
      (this.standIns?.substituting ?? false) ||
      this.stopping !== null;
    this.passChunk(
      chunk,
      this.replies,
      edit,
      this.serverFramer,
      this.toClient,
      this.clientOut,
      this.o.upstream,
    );
    // Only a result still running after the whole chunk is worth stopping: a small one usually
    // arrives complete, cap passed and all.
    if (this.stopWanted) {
      this.stopWanted = false;
      if (this.results!.active && !this.ended && !this.closing) this.stopAtCap();
    }
    if (this.closing && !this.ended && this.serverFramer.idle) this.endClosing();
  }

  /**
   * One chunk from `source` to `sink`: through the editor when it may need edits, else written whole
   * before it is framed (the editor, if any, still counts its messages' offsets).
   */
  private passChunk(
    chunk: Buffer,
    ed: StreamEditor | null,
    edit: boolean,
    framer: Framer,
    fwd: Forwarder,
    sink: SocketWriter,
    source: Socket,
  ): void {
    if (ed?.begin(chunk, edit)) {
      framer.feed(chunk);
      ed.end();
      this.pauseIfFull(fwd, source);
      return;
    }
    if (!sink.write(chunk)) source.pause();
    framer.feed(chunk);
    ed?.end();
  }

  private pauseIfFull(fwd: Forwarder, source: Socket): void {
    if (!fwd.ok) {
      fwd.ok = true;
      source.pause();
    }
  }

  private clientHandler(): FrameHandler {
    const t = this.tracker;
    return {
      message: (type, body, raw) => {
        if (this.closing) return; // the rest of the chunk that broke the protocol
        if (this.terminated) {
          // After Terminate nothing goes upstream (a checked session drops it from the chunk when the
          // chunk is being edited; else it went on whole, and the server reads nothing after Terminate).
          const ed = this.requests;
          const at = ed?.inspected(raw) ?? -1;
          if (ed?.editable(at)) ed.replace(at, raw.length, null);
          return;
        }
        if (this.gate) {
          this.gate.push(type, raw, true);
          return;
        }
        this.countSent(type);
        const at = this.requests?.inspected(raw) ?? 0;
        let out: Buffer | null;
        try {
          out = this.onClientMessage(type, body, raw, this.requests?.editable(at) ?? true);
        } catch (err) {
          this.protocolError(`malformed ${String.fromCharCode(type)} message: ${(err as Error).message}`);
          return;
        }
        if (this.requests) {
          if (out !== raw) this.requests.replace(at, raw.length, out);
        } else if (this.track && out) this.toUpstream.add(out);
      },
      skipped: (type, bodyLength) => {
        const ed = this.requests;
        if (this.terminated) {
          const at = ed?.skipped(type, bodyLength) ?? -1;
          if (ed?.editable(at)) ed.replace(at, 5 + bodyLength, null);
          return;
        }
        this.countSent(type);
        if (ed) {
          const at = ed.skipped(type, bodyLength);
          if (this.policyGate!.discarding) {
            if (type === F.Flush) return;
            if (type !== F.Sync) {
              ed.replace(at, 5 + bodyLength, null);
              return;
            }
            this.policyGate!.discarding = false;
          }
        }
        if (type === F.Query || type === F.Sync || type === F.FunctionCall) {
          this.busy++;
          this.standIns?.unitSent();
          this.owners?.untilReady();
        }
      },
      pass: (type, bytes, first) => {
        if (this.closing || this.terminated) return;
        t.copyDataIn(first ? bytes.length - 5 : bytes.length);
        if (this.gate) this.gate.push(type, bytes, false);
        else this.toUpstream.add(bytes);
      },
      invalid: (reason) => this.protocolError(reason),
    };
  }

  private countSent(type: number): void {
    if (type === F.Query || type === F.Sync || type === F.FunctionCall) this.afterUnit = 0;
    else this.afterUnit++;
  }

  /**
   * Decode, check and track one client message; returns the bytes to forward in its place (`raw`
   * itself, a denied statement's stand-in, a limited Execute, or null for nothing). `editable`:
   * whether it can still be replaced (else only `raw` may be returned, and is ignored).
   */
  private onClientMessage(type: number, body: Buffer, raw: Buffer, editable = true): Buffer | null {
    const t = this.tracker;
    const gate = this.policyGate;
    const track = this.track;
    if (gate?.discarding) {
      // After a denied Parse the server skips to Sync; what it would skip is not sent at all.
      if (type === F.Flush || type === F.Terminate) {
        if (type === F.Terminate) this.terminated = true;
        return raw;
      }
      if (type !== F.Sync) return null;
      gate.discarding = false;
    }
    switch (type) {
      case F.Query: {
        this.busy++;
        this.standIns?.unitSent();
        this.owners?.untilReady();
        if (gate) {
          const sql = policyText(body, 0);
          const d = gate.session.decide(sql);
          if (!d.allow) return this.deny(gate, type, track ? decodeQuery(body, t.text) : sql, d);
          this.oneSelect = gate.session.lastWasOneSelect;
        }
        if (track) t.query(decodeQuery(body, t.text));
        return raw;
      }
      case F.Parse: {
        if (gate) {
          const nameEnd = body.indexOf(0);
          const sql = policyText(body, nameEnd < 0 ? -1 : nameEnd + 1);
          const name = body.toString('utf8', 0, nameEnd);
          const d = gate.session.decidePrepare(sql, name);
          if (!d.allow) return this.deny(gate, type, track ? decodeParse(body, t.text).sql : sql, d, name);
          if (this.selects) this.noteStatement(name, gate.session.lastWasOneSelect);
        }
        if (track) t.parse(decodeParse(body, t.text));
        return raw;
      }
      case F.FunctionCall: {
        this.busy++;
        this.standIns?.unitSent();
        this.owners?.untilReady();
        const fc = decodeFunctionCall(body);
        if (gate) {
          const d = gate.session.decideFunctionCall(fc.oid);
          if (!d.allow) return this.deny(gate, type, `-- function call: oid ${fc.oid}`, d);
        }
        if (track) t.functionCall(fc);
        return raw;
      }
      case F.Sync:
        this.busy++;
        this.standIns?.unitSent();
        this.owners?.untilReady();
        if (track) t.sync();
        return raw;
      case F.Terminate:
        this.terminated = true;
        return raw;
    }
    if (type === F.Execute) {
      const portal = executePortal(body);
      // The unnamed portal's Execute is its name's NUL and the row limit: 0 asks for every row.
      const limited =
        this.unnamedSelect && editable && portal === '' && body.length === 5 && body.readInt32BE(1) === 0;
      let flags = limited ? ExecuteFlag.Limited : 0;
      if (portal === '' && this.unnamedFresh) {
        flags |= ExecuteFlag.Fresh;
        this.unnamedFresh = false;
      }
      this.owners?.execute(portal, flags);
      if (track) t.execute(portal);
      return limited ? this.limitExecute(raw) : raw;
    }
    if (type === F.Bind && this.selects) this.bindPortal(body);
    if (!track) return raw;
    switch (type) {
      case F.Bind:
        t.bind(decodeBind(body));
        break;
      case F.Describe: {
        const d = decodeTarget(body);
        t.describe(d.what, d.name);
        break;
      }
      case F.Close: {
        const c = decodeTarget(body);
        t.close(c.what, c.name);
        break;
      }
    }
    return raw;
  }

  /** Record a denial and return the stand-in that goes upstream instead (see policy-gate.ts). */
  private deny(gate: PgPolicyGate, type: number, sql: string, d: Decision, name?: string): Buffer {
    const denied = d as Denied;
    this.o.recorder.event({ kind: 'denied', rule: denied.rule, sql, message: denied.message });
    this.o.log.info(
      { rule: denied.rule, statement: denied.statementIndex, message: String.fromCharCode(type) },
      'statement denied by policy',
    );
    if (this.track) this.tracker.denial(type === F.Parse);
    return gate.standIn(type, denied, name);
  }

  private serverHandler(): FrameHandler {
    const t = this.tracker;
    return {
      message: (type, body, raw) => {
        const at = this.replies?.inspected(raw) ?? 0;
        try {
          this.onServerMessage(type, body, raw, at);
        } catch (err) {
          // The bytes were already forwarded; a message we cannot decode only costs its record.
          this.o.log.warn(
            { err: (err as Error).message, type: String.fromCharCode(type) },
            'undecodable server message',
          );
        }
      },
      skipped: (type, bodyLength) => {
        const at = this.replies?.skipped(type, bodyLength) ?? 0;
        if (!this.track) {
          if (type === B.DataRow && this.results) this.admitRow(at, 5 + bodyLength);
          else if (type === B.ReadyForQuery) {
            if (this.busy > 0) this.busy--;
            this.standIns?.unitDone();
          }
          return;
        }
        if (type === B.DataRow) {
          if (this.results && !this.admitRow(at, 5 + bodyLength)) return;
          t.dataRow(null);
        } else if (type === B.CopyData) t.copyDataOut(bodyLength);
      },
      pass: () => {},
      invalid: (reason) => {
        this.o.log.warn({ reason }, 'upstream sent an invalid message');
        this.finish('upstream_lost', reason);
      },
    };
  }

  private onServerMessage(type: number, body: Buffer, raw: Buffer, at: number): void {
    const t = this.tracker;
    const results = this.results;
    switch (type) {
      case B.DataRow: {
        if (results) {
          if (!this.admitRow(at, raw.length)) return;
          const masked = results.mask(body);
          if (masked) {
            this.replies!.replace(at, raw.length, masked);
            t.dataRow(masked.subarray(5));
            return;
          }
        }
        t.dataRow(body);
        return;
      }
      case B.CommandComplete: {
        // Without the tracker the tag matters only when rows were dropped (it then counts the rows sent).
        let tag = this.track || results?.truncating ? decodeCommandComplete(body) : '';
        if (results?.active) {
          const cut = results.complete(tag);
          if (cut) {
            tag = cut.tag;
            this.sendTruncation(cut, at, raw.length);
          }
        }
        this.owners?.resultEnded();
        if (this.track) t.commandComplete(tag);
        return;
      }
      case B.ReadyForQuery:
        if (this.busy > 0) this.busy--;
        this.lastStatus = body[0]!;
        if (this.stopping) {
          this.stopping.ready = true;
          this.releaseClient();
        }
        this.standIns?.unitDone();
        if (results) {
          results.abort();
          if (body[0] === IDLE) results.idle();
        }
        this.owners?.ready();
        if (this.track) t.readyForQuery(body[0]);
        if (this.idleWaiter && this.busy <= this.idleWaiter.below) {
          this.idleWaiter.resolve();
          this.idleWaiter = null;
        }
        return;
      case B.RowDescription: {
        const cols = results?.masking
          ? decodeRowDescriptionWithOrigins(body)
          : this.o.capture === 'none'
            ? []
            : this.rowDescriptions.decode(body);
        if (t.rowDescription(cols) && results) results.start(cols, null);
        return;
      }
      case B.ErrorResponse: {
        if (this.stopping && this.stoppedByCap(body, raw, at)) return;
        // A stand-in's error is replaced whole below; any other is masked like a notice.
        const standIn = this.standIns?.substituting === true;
        const n = (standIn ? null : this.maskedNotice(type, body, raw, at)) ?? decodeNotice(body);
        if (n.severity === 'FATAL' || n.severity === 'PANIC') this.upstreamSaidFatal = true;
        results?.abort();
        this.owners?.error();
        if (this.standIns?.substituting && this.substituteError(n, raw, at)) return;
        if (this.track) t.error(n);
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
        results?.abort();
        this.owners?.resultEnded();
        if (this.track) t.emptyQuery();
        return;
      case B.PortalSuspended: {
        if (this.owners?.has(ExecuteFlag.Limited)) {
          this.endLimited(at, raw.length);
          return;
        }
        const cut = results?.active ? results.suspend() : null;
        if (cut) this.sendTruncation(cut, at, raw.length);
        this.owners?.resultEnded();
        if (this.track) t.portalSuspended();
        return;
      }
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
        t.notice(this.maskedNotice(type, body, raw, at) ?? decodeNotice(body));
        return;
      case B.ParameterStatus: {
        const p = decodeParameterStatus(body);
        // set_config('application_name', email, false) reports the value back: masked like messages.
        const masked = this.results?.masking?.maskMessage(p.value) ?? null;
        const sent = masked !== null && this.sendMasked(at, raw, parameterStatus(p.name, masked));
        if (p.name === 'application_name') t.applicationName(sent ? masked : p.value);
        else if (p.name === 'client_encoding') t.clientEncoding(p.value);
        return;
      }
      case B.NotificationResponse: {
        const n = decodeNotification(body);
        // A trigger's pg_notify(channel, row_to_json(NEW)::text) carries whole rows: masked like messages.
        const masked = this.results?.masking?.maskMessage(n.payload) ?? null;
        const sent =
          masked !== null && this.sendMasked(at, raw, notificationResponse(n.pid, n.channel, masked));
        t.notification(n.channel, sent ? masked : n.payload);
        return;
      }
    }
  }

  /**
   * Under masking, an error or notice whose text the detectors change goes to the client (and the
   * recording) masked; null when nothing changed.
   */
  private maskedNotice(type: number, body: Buffer, raw: Buffer, at: number): Notice | null {
    const rules = this.results?.masking;
    if (!rules) return null;
    const masked = rewriteNoticeText(type, body, (text) => rules.maskMessage(text));
    return masked !== null && this.sendMasked(at, raw, masked) ? decodeNotice(masked.subarray(5)) : null;
  }

  /** The server message `raw` at `at` goes to the client as `masked` instead; false when it cannot. */
  private sendMasked(at: number, raw: Buffer, masked: Buffer): boolean {
    if (!this.replies!.editable(at)) {
      this.o.log.warn({}, 'a server message to mask could not be rewritten');
      return false;
    }
    this.replies!.replace(at, raw.length, masked);
    return true;
  }

  /** max_rows: whether the DataRow at `at` is sent; a row over the cap is dropped here. */
  private admitRow(at: number, length: number): boolean {
    const results = this.results!;
    if (!results.active) this.startResult();
    if (results.admit()) return true;
    this.replies!.replace(at, length, null);
    if (
      this.canStop &&
      !this.stopping &&
      results.simple &&
      this.oneSelect &&
      this.busy === 1 &&
      this.afterUnit === 0 &&
      this.lastStatus === IDLE
    )
      this.stopWanted = true;
    return false;
  }

  /**
   * max_rows: stop the query instead of reading the rest of its result (a `SELECT *` of a large
   * table under a cap of 1,000 rows would otherwise run to its end upstream, every row crossing the
   * network to be dropped here, with the client waiting for all of it). Only where the cancel can
   * take nothing else with it: a single SELECT sent as a simple query outside a transaction block,
   * on a read-only upstream session, with nothing sent after it (admitRow checks). The server
   * then answers 57014, which becomes the capped result's end (stoppedByCap).
   *
   * A cancel request hits whatever the backend runs when it arrives, so no more client messages are
   * read until both the ReadyForQuery has come and the server has closed the cancel connection
   * (it signals the backend before that). A signal that reaches an idle backend is discarded by the
   * server (postgres.c, "Query cancel is supposed to be a no-op when there is no query in progress").
   */
  private stopAtCap(): void {
    const stopping = { cancelTaken: false, ready: false };
    this.stopping = stopping;
    this.o.client.pause();
    this.o.cancelUpstream(() => {
      stopping.cancelTaken = true;
      this.releaseClient();
    });
  }

  private releaseClient(): void {
    const s = this.stopping;
    if (!s?.cancelTaken || !s.ready) return;
    this.stopping = null;
    if (!this.ended && !this.upstreamOut.needDrain) this.o.client.resume();
  }

  /**
   * The server's 57014 (query canceled) while a capped result is being stopped: the result ends
   * as if complete, with the tag counting the rows sent and dbtape's warning. After a result that
   * had ended anyway (the cancel came too late to matter) the error is dropped.
   */
  private stoppedByCap(body: Buffer, raw: Buffer, at: number): boolean {
    const n = decodeNotice(body);
    const ed = this.replies!;
    if (n.code !== SqlState.QueryCanceled || !ed.editable(at)) return false;
    const results = this.results!;
    if (!results.active) {
      ed.replace(at, raw.length, null);
      return true;
    }
    if (!results.truncating) return false;
    const cut = results.complete('SELECT 0', true)!;
    this.sendTruncation(cut, at, raw.length);
    this.owners?.resultEnded();
    if (this.track) this.tracker.commandComplete(cut.tag);
    return true;
  }

  /**
   * A read role's Execute that asks for every row of one plain SELECT goes upstream asking for
   * max_rows + 1: the server stops there and suspends the portal (endLimited), so a capped result
   * costs the server no more than the rows it sends. Nothing is cancelled or rolled back, so unlike
   * a simple query's stop (stopAtCap) this works in a transaction block and in a pipeline.
   *
   * The limit is written into the message where it lies (`raw` is this session's own chunk, or the
   * framer's copy of a message split across chunks, and none of it was sent yet: the caller checked),
   * so the chunk still goes upstream in one write; a replacement buffer would split it in three.
   */
  private limitExecute(raw: Buffer): Buffer {
    raw.writeInt32BE(Math.min(this.results!.maxRows! + 1, 0x7fffffff), raw.length - 4);
    return raw;
  }

  /** An Execute's or a simple query's result begins with its first row. */
  private startResult(): void {
    const results = this.results!;
    // A newly bound unnamed portal's count starts afresh (the last one's may have been kept for paging).
    if (this.owners?.has(ExecuteFlag.Fresh)) results.bound('');
    if (this.track) results.start(this.tracker.currentColumns(), this.tracker.currentPortal());
    else results.start(null, this.owners!.portal());
  }

  /** The PortalSuspended that ends a limited Execute becomes the capped result's end. */
  private endLimited(at: number, length: number): void {
    const results = this.results!;
    if (!results.active) this.startResult();
    const cut = results.limitReached();
    this.sendTruncation(cut, at, length);
    this.owners!.resultEnded();
    if (this.track) this.tracker.commandComplete(cut.tag);
  }

  /** Parse of a statement the policy allowed: whether it is one plain SELECT. */
  private noteStatement(name: string, oneSelect: boolean): void {
    const selects = this.selects!;
    if (!oneSelect) {
      selects.delete(name);
      return;
    }
    // Names a Close or DEALLOCATE freed stay here until parsed again; bound them (a statement
    // forgotten here is only capped the old way, by dropping rows).
    if (selects.size >= MAX_SELECT_NAMES) selects.clear();
    selects.add(name);
  }

  /** Bind of the unnamed portal: a new portal, and whether it runs a plain SELECT. */
  private bindPortal(body: Buffer): void {
    const statementEnd = body.indexOf(0, 1);
    if (body[0] !== 0 || statementEnd < 0) return; // a named portal, or a Bind the server rejects
    this.unnamedFresh = true;
    this.unnamedSelect = this.selects!.has(body.toString('utf8', 1, statementEnd));
  }

  /**
   * A truncated result's end, to the client and the recording: dbtape's warning goes before the
   * server message at `at` (of `length` bytes), which the rewritten CommandComplete replaces when
   * there is one.
   */
  private sendTruncation(cut: Truncation, at: number, length: number): void {
    this.replies!.insertBefore(at, cut.notice);
    if (cut.commandComplete) this.replies!.replace(at, length, cut.commandComplete);
    if (this.track) this.tracker.notice({ severity: 'WARNING', code: '01000', message: cut.noticeText });
  }

  /** The server's error for a stand-in becomes dbtape's own (or nothing: the client has it). */
  private substituteError(n: Notice, raw: Buffer, at: number): boolean {
    const reply = this.standIns!.replacement(n);
    if (!reply) return false;
    const ed = this.replies!;
    if (!ed.editable(at)) {
      this.o.log.warn({}, 'the error for a stand-in statement could not be substituted');
      return false;
    }
    ed.replace(at, raw.length, reply.error);
    if (this.track && reply.denial) this.tracker.deniedReply();
    return true;
  }

  private strictGate(): StrictGate {
    return new StrictGate({
      handle: (type, body, raw) => this.onClientMessage(type, body, raw),
      malformed: (type, err) =>
        this.protocolError(`malformed ${String.fromCharCode(type)} message: ${err.message}`),
      forward: (parts) => {
        if (!this.upstreamOut.writev(parts)) this.o.client.pause();
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
    const notice = { severity: 'ERROR', code: SqlState.IoError, message: notRecordedMessage(err) } as const;
    const error = errorResponse(notice);
    const unit = last === F.Query || last === F.Sync || last === F.FunctionCall;
    // Inside a transaction block an error must fail the transaction upstream too, or the client's
    // COMMIT would commit the statements around the one that never ran: a stand-in fails it there,
    // and the server's own error (replaced by this one) and ReadyForQuery ('E') answer the client.
    // After a refused batch that ended in Flush, the client had the error; its Sync gets the stand-in.
    if (unit && this.tracker.status === 'T') {
      if (batch.length > 0) this.tracker.error(notice);
      else {
        this.busy++;
        this.standIns!.unitSent();
        this.owners?.untilReady();
      }
      const reply = { error: batch.length > 0 ? error : null, denial: false };
      this.upstreamOut.write(this.standIns!.make(F.Query, 'dbtape_not_recorded_', reply));
      return;
    }
    const client = this.clientOut;
    if (batch.length > 0) {
      client.write(error);
      this.tracker.error(notice);
      this.owners?.error();
    }
    if (unit) {
      this.busy -= own;
      for (let i = 0; i < own; i++) {
        this.standIns?.unitDone();
        this.owners?.ready();
      }
      const status = this.tracker.status;
      client.write(readyForQuery(status));
      this.tracker.readyForQuery(status.charCodeAt(0));
    }
  }

  private protocolError(reason: string): void {
    // After Terminate the server reads nothing more, and neither does dbtape: the client said goodbye
    // (what follows may even reach the server, which then resets the connection, as it does alone).
    if (this.ended || this.closing || this.terminated) return;
    this.o.log.warn({ reason }, 'client protocol violation; closing');
    this.closeBetweenMessages(
      SqlState.ProtocolViolation,
      `dbtape: protocol violation: ${reason}`,
      'protocol_error',
      reason,
    );
  }

  /**
   * End the session with dbtape's FATAL. A FATAL inside a half-forwarded server message would break
   * the client's framing: it follows the message's end (a server that does not get there in time
   * ends the session without it).
   */
  private closeBetweenMessages(code: string, message: string, end: EndReason, detail: string): void {
    this.closing = { code, message, end, detail };
    if (this.serverFramer.idle) {
      this.endClosing();
      return;
    }
    this.gate?.stop();
    // The server may keep the rest of the message in its output buffer until a Sync or Flush the
    // client will now never send (an extended-protocol batch): ask for it. Only where no client
    // message is half sent upstream, so the Flush cannot land inside one.
    const between = this.track ? !this.tracker.copyingIn : this.clientFramer.idle;
    if (between && this.o.upstream.writable) this.upstreamOut.write(FLUSH);
    this.closingDeadline = new ProgressDeadline(FATAL_WAIT_MS, () => this.finish(end, detail));
  }

  /** dbtape's FATAL, between server messages; none after the server's own FATAL. */
  private endClosing(): void {
    const c = this.closing!;
    if (!this.upstreamSaidFatal) this.sendFatal(c.code, c.message);
    this.finish(c.end, c.detail);
  }

  private clientGone(): void {
    if (this.ended) return;
    if (this.closing) {
      this.finish(this.closing.end, this.closing.detail);
      return;
    }
    // A backend busy with a long query would not notice the closed socket until it
    // writes; cancel the query so the backend goes away promptly.
    if (!this.terminated && this.busy > 0) this.o.cancelUpstream();
    this.finish(this.terminated ? 'client_closed' : 'client_lost');
  }

  private upstreamGone(): void {
    if (this.ended) return;
    if (this.closing) {
      this.finish(this.closing.end, this.closing.detail);
      return;
    }
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
    // Inside a message cut off by the server's loss, a FATAL would be read as that message's bytes:
    // the client is closed without it (and reports the closed connection itself).
    if (this.serverFramer.idle)
      this.sendFatal(SqlState.ConnectionFailure, 'dbtape: lost the connection to the database server');
    this.finish('upstream_lost');
  }

  private sendFatal(code: string, message: string): void {
    const c = this.o.client;
    if (!c.destroyed && c.writable) this.clientOut.write(errorResponse({ severity: 'FATAL', code, message }));
  }

  private finish(reason: EndReason, detail?: string): void {
    if (this.ended) return;
    this.ended = true;
    this.closingDeadline?.cancel();
    this.gate?.stop();
    endSockets(this.clientOut, this.upstreamOut);
    this.tracker.sessionEnded();
    this.o.onEnd(reason, detail);
  }
}
