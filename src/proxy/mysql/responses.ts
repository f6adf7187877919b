import type { Logger } from '../../model/logger.js';
import type { MaskingRules } from '../../policy/index.js';
import {
  CLIENT_DEPRECATE_EOF,
  COM_QUERY,
  COM_RESET_CONNECTION,
  COM_STMT_FETCH,
  COM_STMT_PREPARE,
  decodeErr,
  EOF_HEADER,
  ER_QUERY_INTERRUPTED,
  ERR_HEADER,
  encodeEof,
  encodeErr,
  encodeOk,
  framePayload,
  hasCap,
  LOCAL_INFILE_HEADER,
  MAX_PACKET_PAYLOAD,
  OK_HEADER,
  PACKET_HEADER_SIZE,
  PacketAssembler,
  PacketFramer,
  type PacketSegment,
  physicalPacketCount,
  type ResponsePacketKind,
  ResponseTracker,
  SERVER_MORE_RESULTS_EXISTS,
  SERVER_STATUS_NO_BACKSLASH_ESCAPES,
  type StatementRegistry,
} from '../../protocol/mysql/index.js';
import { Fifo } from '../../wire/fifo.js';
import { errPacket } from './errors.js';
import { INFILE_REFUSED, LocalInfile } from './local-infile.js';
import type { Pending } from './pending.js';
import type { PolicyGate } from './policy-gate.js';
import type { ResultShaper } from './policy-results.js';
import { ResponseTranslation } from './response-translation.js';
import { forwardSegment, frame, type Sink } from './segments.js';
import type { SessionEvents } from './session-events.js';
import { warningRow } from './show-warnings.js';

/**
 * The server → client direction of a MySQL session. Bytes are forwarded as they arrive, as
 * views of the socket's chunks; a ResponseTracker follows each command's response (from each
 * packet's first bytes; OK/ERR/EOF and definitions are read whole), so outcomes are recorded
 * and the next queued command's response is recognised. A packet is held back only when dbtape
 * must change it: a LOCAL INFILE request, the server's refusal of a LOAD DATA LOCAL it was not
 * offered (local-infile.ts), or, when client and server disagree on DEPRECATE_EOF / SESSION_TRACK,
 * the terminators it translates (rows then get renumbered headers).
 */

export interface ResponseOptions {
  readonly clientCapabilities: number;
  readonly upstreamCapabilities: number;
  /** The user's role lets LOAD DATA LOCAL INFILE pass the client's file. */
  readonly localInfile: boolean;
  readonly events: SessionEvents;
  readonly statements: StatementRegistry;
  readonly log: Logger;
  /** Bytes for the client, in order with forwarded ones. */
  readonly toClient: Sink;
  /** A pipelined COM_STMT_EXECUTE's turn came: decode and record it now. */
  readonly decodeDeferred: (p: Pending) => void;
  /** The server asked for the client's file; the client's data packets follow from `clientSeq + 1`. */
  readonly infileRequested: (clientSeq: number, seqShift: number) => void;
  /** The statement policy, told the server's NO_BACKSLASH_ESCAPES status (null: no restriction). */
  readonly policy: PolicyGate | null;
  /** max_rows and masking (null: rows pass untouched, at no cost). */
  readonly shaper: ResultShaper | null;
  /**
   * Stop the running statement upstream (a side KILL QUERY) once max_rows is passed; null where a
   * kill could take more than unread rows with it (not a read-only session, strict mode).
   */
  readonly stopAtCap: (() => void) | null;
}

/** Packets assembled whole: definitions, OK/ERR/EOF, and rows being captured. */
const MAX_ASSEMBLED = 16 << 20;
/** Rows bigger than this are not captured (capture_results: rows), only counted. */
const MAX_CAPTURED_ROW = 1 << 20;
/** A row being masked is read whole whatever its size: no byte of it may pass unmasked. */
const MAX_MASKED_ROW = 1 << 30;

/** First payload bytes of packets frameWhole may count: 1 allowed, 0 not. */
function firstBytes(allowed: (b: number) => boolean): Uint8Array {
  return Uint8Array.from({ length: 256 }, (_, b) => (allowed(b) ? 1 : 0));
}
/** A text row: anything but a terminator (EOF) or ERR. */
const ROWS_TEXT = firstBytes((b) => b !== EOF_HEADER && b !== ERR_HEADER);
/** A binary row starts with 0x00. */
const ROWS_BINARY = firstBytes((b) => b === OK_HEADER);
/** A column definition starts with its catalog's length; an ERR can end the metadata instead. */
const DEFINITIONS = firstBytes((b) => b !== ERR_HEADER);

export class ResponseStream {
  readonly tracker: ResponseTracker;
  /** The upstream sent an ERR outside any command (a kill or shutdown notice). */
  upstreamSentError = false;
  /** The sequence id the client expects next in the current response (for dbtape's own ERR). */
  nextClientSeq = 1;
  /**
   * Why the server's bytes can no longer be followed (it asked for a file it was not offered): the
   * client has had dbtape's ERR, nothing more is read, and the session must end.
   */
  serverViolation: string | null = null;
  private readonly infile: LocalInfile;
  private readonly framer = new PacketFramer();
  private readonly asm = new PacketAssembler(MAX_ASSEMBLED);
  private readonly translation: ResponseTranslation;
  private readonly queue = new Fifo<Pending>();
  private current: Pending | null = null;
  private prepares = 0;
  // The logical packet being read.
  private kind: ResponsePacketKind = 'row';
  private forward = true;
  private assemble = false;
  private hold = false;
  /** The row being read is past max_rows (dropped) / is being masked (held whole). */
  private dropRow = false;
  private maskRow = false;
  private maskAsm: PacketAssembler | null = null;
  private pktSeq = 0;
  // The current response.
  private packets = 0;
  private completed = 0;
  private lastCompletion = 0;
  private warned = false;
  /** The current result passed the cap and may be stopped (decided at the end of the chunk). */
  private stopWanted = false;
  /** The response whose statement dbtape stopped, until it ends. */
  private stopped: Pending | null = null;

  constructor(private readonly o: ResponseOptions) {
    this.tracker = new ResponseTracker({ capabilities: o.upstreamCapabilities });
    this.translation = new ResponseTranslation(o.clientCapabilities, o.upstreamCapabilities);
    this.infile = new LocalInfile(o.localInfile, o.clientCapabilities, o.upstreamCapabilities);
  }

  /** A command is awaiting (part of) its response. */
  get busy(): boolean {
    return this.current !== null;
  }

  /** No server packet is half forwarded to the client: dbtape's own packets may go between. */
  get betweenPackets(): boolean {
    return this.framer.idle;
  }

  /** Offset in `chunk` where the packet being forwarded ends (see PacketFramer.packetEnd). */
  packetEnd(chunk: Buffer): number {
    return this.framer.packetEnd(chunk);
  }

  /** A statement dbtape stopped at the cap has not finished answering. */
  get stopInFlight(): boolean {
    return this.stopped !== null;
  }

  /** COM_STMT_PREPAREs sent whose response has not completed. */
  get preparesInFlight(): number {
    return this.prepares;
  }

  enqueue(p: Pending): void {
    if (p.record === 'prepare') this.prepares++;
    this.queue.push(p);
    this.advance();
  }

  /**
   * The last queued command was not sent after all (strict mode could not record it): the client
   * gets `local` in its place.
   */
  replaceLast(local: Buffer): void {
    // The last command is the queue's tail, or, with nothing queued behind it, the one being answered.
    const i = this.queue.length - 1;
    const last = i >= 0 ? this.queue.at(i)! : this.current;
    if (last === null) return;
    if (last.record === 'prepare') this.prepares--;
    if (i < 0) {
      this.current = null;
      this.o.toClient.part(local);
      this.advance();
      return;
    }
    this.queue.set(i, { ...last, local, record: 'none' });
  }

  feed(chunk: Buffer): void {
    if (this.serverViolation !== null) return;
    const framer = this.framer;
    framer.push(chunk);
    for (;;) {
      if (this.serverViolation !== null) return;
      if (framer.idle) this.skipPlain(chunk);
      if (!framer.next()) break;
      this.segment(chunk, framer.segment);
    }
    // Only a result still running after the whole chunk is worth stopping.
    if (this.stopWanted) {
      this.stopWanted = false;
      if (this.current !== null && this.stopped === null && !this.tracker.done) {
        this.stopped = this.current;
        this.o.stopAtCap!();
      }
    }
  }

  /**
   * The hot path of a result: whole packets nothing needs to read (rows; column definitions when
   * nothing is recorded) are forwarded from the framer's position as one slice and counted, from
   * their headers and first bytes only. Anything else (a terminator, ERR, a packet split across
   * chunks or of 16 MiB and more) is left to the packet-by-packet path.
   */
  private skipPlain(chunk: Buffer): void {
    const p = this.current;
    const t = this.tracker;
    if (
      p === null ||
      p.swallow ||
      this.o.shaper !== null ||
      this.translation.active ||
      this.translation.shift !== 0
    )
      return;
    if (t.betweenRows) {
      if (this.o.events.capturingRows) return;
      const rows = this.frameWhole(chunk, Number.MAX_SAFE_INTEGER, t.binary ? ROWS_BINARY : ROWS_TEXT);
      if (rows > 0) t.countRows(rows);
    } else if (t.inColumnDefinitions && !this.o.events.active) {
      // Nothing is recorded, so no column's name or type is needed.
      const defs = this.frameWhole(chunk, t.definitionsLeft, DEFINITIONS);
      if (defs > 0) t.countDefinitions(defs);
    }
  }

  /**
   * Forward up to `max` whole packets from the framer's position whose first payload byte `accepts`
   * allows; returns how many.
   */
  private frameWhole(chunk: Buffer, max: number, accepts: Uint8Array): number {
    const start = this.framer.position;
    let pos = start;
    let n = 0;
    let seq = 0;
    while (n < max && pos + PACKET_HEADER_SIZE < chunk.length) {
      const length = chunk[pos] | (chunk[pos + 1] << 8) | (chunk[pos + 2] << 16);
      const end = pos + PACKET_HEADER_SIZE + length;
      if (length === 0 || length === MAX_PACKET_PAYLOAD || end > chunk.length) break;
      if (accepts[chunk[pos + PACKET_HEADER_SIZE]] === 0) break;
      seq = chunk[pos + 3];
      n++;
      pos = end;
    }
    if (n === 0) return 0;
    this.o.toClient.range(chunk, start, pos);
    this.framer.skip(pos - start);
    this.packets += n;
    this.nextClientSeq = (seq + 1) & 0xff;
    return n;
  }

  private segment(chunk: Buffer, seg: PacketSegment): void {
    if (seg.first && seg.logicalOffset === 0) this.startPacket(chunk, seg);
    if (this.dropRow) {
      // Every physical packet not sent moves the rest of the response's sequence ids down by one.
      if (seg.first) this.translation.shift--;
    } else if (this.maskRow) {
      const asm = this.maskAsm!;
      const st = asm.add(chunk, seg);
      if (st === 'complete') this.maskedRow(asm.payload);
      else if (st === 'too-large') throw new Error('a row to mask is over 1 GiB');
    }
    if (this.forward) forwardSegment(this.o.toClient, chunk, seg, this.translation.shift);
    if (this.assemble) {
      const st = this.asm.add(chunk, seg);
      if (st === 'complete') this.assembled(this.asm.payload);
      else if (st === 'too-large') this.tooLarge();
    }
    if (seg.complete && seg.lastOfLogical) this.endPacket(seg);
  }

  private startPacket(chunk: Buffer, seg: PacketSegment): void {
    this.pktSeq = seg.seq;
    this.packets++;
    this.forward = true;
    this.assemble = false;
    this.hold = false;
    this.dropRow = false;
    this.maskRow = false;
    const p = this.current;
    const first = seg.payloadEnd > seg.payloadStart ? chunk[seg.payloadStart] : -1;
    if (p === null) {
      // Nothing was asked: a kill or shutdown notice, forwarded as it is.
      this.kind = 'unexpected';
      this.assemble = first === ERR_HEADER;
      if (this.assemble) this.asm.reset();
      return;
    }
    const expectingFirst = this.packets === 1 || this.tracker.moreResults;
    const kind = this.tracker.feedHead(chunk, seg.payloadStart, seg.payloadEnd, seg.length);
    this.kind = kind;
    if (kind === 'need-full') {
      this.assemble = true;
      this.asm.reset();
      const infile = first === LOCAL_INFILE_HEADER && p.command === COM_QUERY && expectingFirst;
      const cut = this.o.shaper?.truncated === true;
      // Under masking an error's text may be rewritten, and so may the server's refusal of a LOAD
      // DATA LOCAL: it is read whole before any of it goes on.
      const rewrittenErr =
        first === ERR_HEADER &&
        (this.o.shaper?.masking != null || (this.infile.withheld && p.command === COM_QUERY));
      this.hold = p.swallow || this.translation.active || infile || cut || rewrittenErr;
      this.forward = !this.hold;
      return;
    }
    if (p.swallow) {
      this.forward = false;
      this.outcome(kind);
      return;
    }
    if (kind === 'row') {
      const eof = this.translation.active ? this.translation.beforeRow(this.tracker) : null;
      if (eof !== null) this.emit([eof], true);
      if (this.o.shaper !== null && this.shapeRow(this.o.shaper)) return;
      if (this.o.events.capturingRows) {
        // Captured rows are read whole; a huge one is only counted (never held in memory).
        this.assemble = seg.length < MAX_CAPTURED_ROW;
        if (this.assemble) this.asm.reset();
        else this.o.events.stopCapture();
      }
      return;
    }
    // A whole packet, classified from its first segment. Unless something may change it, what it
    // means is all that matters (no view of it is made).
    const plain = kind !== 'local-infile' && (kind !== 'err' || !this.infile.withheld);
    if (this.o.shaper === null && !this.translation.active && plain) this.outcome(kind);
    else this.decide(kind, chunk.subarray(seg.payloadStart, seg.payloadEnd));
  }

  private assembled(payload: Buffer): void {
    if (this.current === null) {
      const err = decodeErr(payload);
      if (err.ok) {
        this.upstreamSentError = true;
        this.o.events.error(err.value);
      }
      return;
    }
    if (this.kind === 'row') {
      this.o.events.row(this.tracker, payload);
      return;
    }
    const kind = this.tracker.feed(payload);
    this.kind = kind;
    if (this.current.swallow) {
      this.outcome(kind);
      return;
    }
    this.decide(kind, payload);
  }

  /** What to send for a whole packet (`payload`), and what it means for the recording. */
  private decide(kind: ResponsePacketKind, payload: Buffer): void {
    if (kind === 'err' && this.infile.withheld && this.infileRefusal()) {
      this.outcome(kind);
      return;
    }
    const shaper = this.o.shaper;
    if (shaper !== null) {
      if (kind === 'err' && this.stopped === this.current && this.stoppedByCap(shaper, payload)) return;
      if (kind === 'err' && shaper.masking !== null && this.maskErr(shaper.masking)) {
        this.outcome(kind);
        return;
      }
      if ((kind === 'eof' || kind === 'ok') && this.tracker.resultsCompleted > this.completed) {
        const warning = shaper.takeInjection();
        const types = warning !== null && this.tracker.binary ? this.tracker.columns.types() : null;
        const row = warning && warningRow(warning, this.tracker.binary, types?.ok ? types.value : null);
        if (row) this.emit([row], true);
      }
      if (kind === 'column-count') shaper.beginResult();
      else if (
        kind === 'column-def' &&
        this.tracker.lastOfMetadata &&
        this.current!.command !== COM_STMT_PREPARE
      )
        shaper.columnsReady(this.tracker, this.current!);
      else if (shaper.patches(kind)) {
        const out = this.translation.active
          ? this.translation.replace(this.tracker, kind, payload)
          : [payload];
        const fetch = this.current!.command === COM_STMT_FETCH;
        if (out.length > 0) out[out.length - 1] = shaper.terminator(out[out.length - 1]!, fetch);
        this.forward = false;
        this.emit(out);
        this.outcome(kind);
        return;
      }
    }
    if (kind === 'local-infile') {
      if (!this.infile.passFile) {
        this.refuseFileRequest();
        return;
      }
      this.o.infileRequested(this.pktSeq + this.translation.shift, this.translation.shift);
    }
    if (this.translation.active) {
      this.forward = false;
      this.emit(this.translation.replace(this.tracker, kind, payload));
    } else if (this.hold) {
      this.emit([payload]);
    }
    this.outcome(kind);
  }

  /** Record what a classified packet ends or carries. */
  private outcome(kind: ResponsePacketKind): void {
    const t = this.tracker;
    const p = this.current!;
    const ev = this.o.events;
    const recording = !p.swallow && ev.active;
    if (kind === 'err' && t.err && recording) {
      if (p.record === 'prepare') ev.statement(p.sql, 'prepared');
      ev.error(t.err, this.duration(p));
    } else if (kind === 'prepare-ok' && t.prepareOk) {
      this.o.statements.add(t.prepareOk, p.sql);
      if (p.showsWarnings) this.o.shaper?.warningsStatement(t.prepareOk.statementId);
      if (p.oneSelect) this.o.shaper?.selectStatement(t.prepareOk.statementId);
    } else if (kind === 'unexpected' && !this.warned) {
      this.warned = true;
      this.o.log.warn(
        { err: t.protocolError?.message },
        'could not follow a server response; recording may be incomplete',
      );
    }
    if (t.resultsCompleted > this.completed) {
      this.completed = t.resultsCompleted;
      if (recording && (p.record === 'statement' || p.record === 'fetch')) {
        const shown = this.o.shaper?.truncated ? this.o.shaper.shown : undefined;
        ev.result(t, this.duration(p), p, shown);
      } else ev.transaction(t.statusFlags, p.command === COM_RESET_CONNECTION ? 'rollback' : 'commit');
      this.o.policy?.serverStatus((t.statusFlags & SERVER_STATUS_NO_BACKSLASH_ESCAPES) !== 0);
      // The next result of a multi-statement starts its clock here.
      if (ev.active) this.lastCompletion = performance.now();
    }
  }

  private endPacket(seg: PacketSegment): void {
    this.nextClientSeq = (seg.seq + this.translation.shift + 1) & 0xff;
    if (this.current !== null && this.tracker.done) this.finishCurrent();
  }

  private finishCurrent(): void {
    const p = this.current!;
    if (p === this.stopped) this.stopped = null;
    if (p.record === 'prepare') this.prepares--;
    if (p.modeChange) this.o.policy?.modeChangeAnswered();
    this.current = null;
    if (this.o.events.active) this.lastCompletion = performance.now();
    this.advance();
  }

  /** Start the next queued response; dbtape's own answers go out as soon as their turn comes. */
  private advance(): void {
    while (this.current === null) {
      const p = this.queue.shift();
      if (p === undefined) return;
      if (p.local !== null) {
        this.o.toClient.part(p.local);
        continue;
      }
      this.current = p;
      this.tracker.begin(p.command, { cursor: p.cursor });
      this.o.shaper?.beginResponse(p);
      this.translation.shift = 0;
      this.packets = 0;
      this.completed = 0;
      this.nextClientSeq = 1;
      if (p.deferred !== null) this.o.decodeDeferred(p);
    }
  }

  /**
   * The server refused a LOAD DATA LOCAL because dbtape did not offer it CLIENT_LOCAL_FILES: the
   * client (and the recording) get dbtape's reason instead. True when the packet was replaced.
   */
  private infileRefusal(): boolean {
    const err = this.tracker.err;
    const own = err !== null && this.current!.command === COM_QUERY ? this.infile.refusal(err) : null;
    if (err === null || own === null) return false;
    this.o.log.debug({ errno: err.errno, message: err.message }, 'the server refused LOAD DATA LOCAL INFILE');
    this.tracker.err = own;
    this.forward = false;
    this.emit([errPacket(INFILE_REFUSED, own.message, 0).subarray(PACKET_HEADER_SIZE)]);
    return true;
  }

  /**
   * The server asked for the client's file although it was not offered one. An empty file would let
   * it run the rest of a multi-statement whose outcomes the client, told the statement failed, could
   * never be shown; so it gets nothing, the client gets dbtape's ERR in the request's place, and the
   * session ends (the pipeline closes both sides: the server, its read cut off, runs nothing more).
   */
  private refuseFileRequest(): void {
    this.forward = false;
    const message = this.infile.requestMessage();
    this.o.toClient.part(errPacket(INFILE_REFUSED, message, this.pktSeq + this.translation.shift));
    this.o.events.refusal(INFILE_REFUSED.errno, INFILE_REFUSED.sqlState, message);
    this.serverViolation = 'the server asked for a local file (LOAD DATA LOCAL INFILE) it was not offered';
  }

  /**
   * Send `payloads` in place of the current packet, renumbered; `before` when they come in
   * front of it (the packet itself still follows).
   */
  private emit(payloads: readonly Buffer[], before = false): void {
    const t = this.translation;
    for (let i = 0; i < payloads.length; i++)
      this.o.toClient.part(frame(payloads[i], this.pktSeq + t.shift + i));
    t.shift += before ? payloads.length : payloads.length - 1;
  }

  /**
   * Under masking, an error whose message the detectors change goes to the client (and the
   * recording) masked: `EXTRACTVALUE(1, CONCAT('~', (SELECT email ...)))` fails with the value in its
   * message. True when the packet was replaced.
   */
  private maskErr(rules: MaskingRules): boolean {
    const err = this.tracker.err;
    const message = err ? rules.maskMessage(err.message) : null;
    if (!err || message === null) return false;
    this.tracker.err = { ...err, message };
    this.forward = false;
    const sqlState = err.sqlState ?? 'HY000';
    const bytes = encodeErr({ errno: err.errno, sqlState, message }, 0, err.sqlState !== null);
    this.emit([bytes.subarray(PACKET_HEADER_SIZE)]);
    return true;
  }

  /** max_rows and masking for a row that starts now; true when the row is dropped or held for masking. */
  private shapeRow(shaper: ResultShaper): boolean {
    const action = shaper.row();
    if (action === 'pass') return false;
    this.forward = false;
    if (action === 'drop') {
      this.dropRow = true;
      const p = this.current!;
      // A single SELECT sent alone (a COM_QUERY, or an execute of one without a cursor), nothing
      // queued behind it: a KILL QUERY can take nothing else with it. The session is read-only
      // upstream, so nothing is rolled back either.
      if (this.o.stopAtCap !== null && p.oneSelect && this.queue.length === 0 && shaper.capped)
        this.stopWanted = true;
      return true;
    }
    this.maskRow = true;
    this.maskAsm ??= new PacketAssembler(MAX_MASKED_ROW);
    this.maskAsm.reset();
    return true;
  }

  /**
   * The server's ERR 1317 (query interrupted) for a statement dbtape stopped at the cap: the client
   * gets the result's terminator instead, in its own format, with dbtape's warning, and the
   * recording a result of the rows sent. Another error goes on as it is.
   */
  private stoppedByCap(shaper: ResultShaper, payload: Buffer): boolean {
    const err = decodeErr(payload);
    if (!err.ok || err.value.errno !== ER_QUERY_INTERRUPTED.errno || !shaper.truncated) return false;
    const t = this.tracker;
    const caps = this.o.clientCapabilities;
    const status = t.statusFlags & ~SERVER_MORE_RESULTS_EXISTS;
    // The server keeps its 1317 in the statement's diagnostics, which SHOW WARNINGS lists before
    // dbtape's warning (added by terminator): the count says so.
    const end = hasCap(caps, CLIENT_DEPRECATE_EOF)
      ? encodeOk({ statusFlags: status, warnings: 1 }, caps, 0, EOF_HEADER)
      : encodeEof({ warnings: 1, statusFlags: status }, caps, 0);
    this.forward = false;
    this.emit([shaper.terminator(end.subarray(PACKET_HEADER_SIZE), false, true)]);
    const p = this.current!;
    if (this.o.events.active && p.record === 'statement')
      this.o.events.result(t, this.duration(p), p, shaper.shown);
    return true;
  }

  /** A whole row to mask: the client (and the recording) get the masked row only. */
  private maskedRow(payload: Buffer): void {
    const masked = this.o.shaper!.mask(this.tracker, payload);
    const before = physicalPacketCount(payload.length);
    const t = this.translation;
    if (masked === null) {
      // Unreadable, so unmaskable: the row is dropped rather than sent as it is.
      this.o.log.warn({}, 'a result row could not be read for masking; dropped');
      t.shift -= before;
      return;
    }
    if (this.o.events.capturingRows && masked.length < MAX_CAPTURED_ROW)
      this.o.events.row(this.tracker, masked);
    else if (this.o.events.capturingRows) this.o.events.stopCapture();
    const framed = framePayload(masked, this.pktSeq + t.shift);
    this.o.toClient.part(framed.bytes);
    t.shift += physicalPacketCount(masked.length) - before;
  }

  private tooLarge(): void {
    this.assemble = false;
    if (this.kind === 'row') return; // too big to capture: counted only
    this.o.log.warn({}, 'a server packet that dbtape must read whole is over 16 MiB; forwarding it unread');
    if (this.hold) this.forward = true;
  }

  private duration(p: Pending): number {
    return Math.round((performance.now() - Math.max(p.sentAt, this.lastCompletion)) * 1000);
  }
}
