/**
 * Translation between the two resultset framings when the client and the upstream disagree
 * on CLIENT_DEPRECATE_EOF (MySQL "EOF_Packet": with DEPRECATE_EOF the EOF after definitions is
 * omitted and terminators are OK packets with a 0xFE header).
 *   upstream classic, client DEPRECATE_EOF: drop the EOF after definitions (but a metadata EOF
 *     that announces an open cursor becomes an OK-as-EOF: that is how MySQL and MariaDB end a
 *     cursor execute under DEPRECATE_EOF); turn closing EOFs into OK-as-EOF.
 *   upstream DEPRECATE_EOF, client classic: insert an EOF after the definitions (a prepare's
 *     sections: right after the last definition; a resultset: before the first packet that
 *     follows, since a cursor execute ends right there with an OK that then plays the
 *     metadata EOF); turn closing OK-as-EOF packets into EOFs.
 * Dropping or inserting a packet shifts the sequence ids of the rest of the response by -1/+1:
 * the proxy renumbers (SequenceTracker.take for an inserted one).
 */
import {
  CLIENT_DEPRECATE_EOF,
  COM_STMT_PREPARE,
  EOF_HEADER,
  PACKET_HEADER_SIZE,
  SERVER_STATUS_CURSOR_EXISTS,
} from './constants.js';
import type { EofPacket, OkPacket } from './ok-err.js';
import { encodeEof, encodeOk } from './ok-err.js';
import type { ResponsePacketKind, ResponseTracker } from './response-tracker.js';

export type EofAction =
  /** Forward the packet as it is (sequence id possibly renumbered). */
  | 'forward'
  /** Do not send it to the client. */
  | 'drop'
  /** Send `okAsEofFromEof(tracker.eof)` instead. */
  | 'to-ok'
  /** Send `eofFromOkAsEof(tracker.ok)` instead. */
  | 'to-eof'
  /** Forward it, then send an EOF (`encodeEof` with the session's latest status). */
  | 'append-eof'
  /** Send an EOF first, then forward the packet. */
  | 'prepend-eof'
  /** Send an EOF first, then `eofFromOkAsEof(tracker.ok)` instead of the packet (empty resultset). */
  | 'prepend-eof-to-eof';

/**
 * What to do with the server packet `tracker` just classified as `kind`, for a client whose
 * DEPRECATE_EOF setting is `clientDeprecateEof` (the upstream's is `tracker.deprecateEof`).
 */
export function eofAction(
  tracker: ResponseTracker,
  kind: ResponsePacketKind,
  clientDeprecateEof: boolean,
): EofAction {
  if (clientDeprecateEof === tracker.deprecateEof) return 'forward';
  return clientDeprecateEof ? toDeprecated(tracker, kind) : toClassic(tracker, kind);
}

function toDeprecated(tracker: ResponseTracker, kind: ResponsePacketKind): EofAction {
  if (kind === 'param-eof') return 'drop';
  if (kind === 'metadata-eof') {
    const cursor =
      tracker.command !== COM_STMT_PREPARE && (tracker.statusFlags & SERVER_STATUS_CURSOR_EXISTS) !== 0;
    return cursor && tracker.done ? 'to-ok' : 'drop';
  }
  return kind === 'eof' ? 'to-ok' : 'forward';
}

function toClassic(tracker: ResponseTracker, kind: ResponsePacketKind): EofAction {
  const okAsEof = kind === 'ok' && tracker.ok !== null && tracker.ok.header === EOF_HEADER;
  if (tracker.command === COM_STMT_PREPARE) {
    return (kind === 'column-def' || kind === 'param-def') && tracker.lastOfMetadata
      ? 'append-eof'
      : 'forward';
  }
  if (tracker.afterMetadata) {
    if (!okAsEof) return kind === 'err' ? 'forward' : 'prepend-eof';
    const cursor = (tracker.statusFlags & SERVER_STATUS_CURSOR_EXISTS) !== 0;
    return cursor ? 'to-eof' : 'prepend-eof-to-eof';
  }
  return okAsEof ? 'to-eof' : 'forward';
}

/** An OK-as-EOF terminator (0xFE header) carrying a classic EOF's status and warnings. */
export function okAsEofFromEof(eof: EofPacket, clientCapabilities: number, seq: number): Buffer {
  return encodeOk(
    { statusFlags: eof.statusFlags, warnings: eof.warnings },
    clientCapabilities,
    seq,
    EOF_HEADER,
  );
}

/** A classic EOF carrying an OK-as-EOF's status and warnings (affected rows and info have no place in it). */
export function eofFromOkAsEof(ok: OkPacket, clientCapabilities: number, seq: number): Buffer {
  return encodeEof({ statusFlags: ok.statusFlags, warnings: ok.warnings }, clientCapabilities, seq);
}

/**
 * The payloads to send the client in place of the server packet `payload` that `tracker` just
 * classified as `kind` (in order; empty to drop it; `[payload]` when nothing changes).
 * Inserted EOFs carry the latest status flags the tracker knows. The caller frames them with
 * renumbered sequence ids.
 */
export function translateEof(
  tracker: ResponseTracker,
  kind: ResponsePacketKind,
  payload: Buffer,
  clientCapabilities: number,
): Buffer[] {
  const clientDeprecateEof = (clientCapabilities & CLIENT_DEPRECATE_EOF) !== 0;
  const action = eofAction(tracker, kind, clientDeprecateEof);
  if (action === 'forward') return [payload];
  if (action === 'drop') return [];
  const eofNow = () =>
    encodeEof({ warnings: 0, statusFlags: tracker.statusFlags }, clientCapabilities, 0).subarray(
      PACKET_HEADER_SIZE,
    );
  const asEof = () =>
    tracker.ok === null
      ? payload
      : eofFromOkAsEof(tracker.ok, clientCapabilities, 0).subarray(PACKET_HEADER_SIZE);
  switch (action) {
    case 'to-ok':
      return tracker.eof === null
        ? [payload]
        : [okAsEofFromEof(tracker.eof, clientCapabilities, 0).subarray(PACKET_HEADER_SIZE)];
    case 'to-eof':
      return [asEof()];
    case 'append-eof':
      return [payload, eofNow()];
    case 'prepend-eof':
      return [eofNow(), payload];
    case 'prepend-eof-to-eof':
      return [eofNow(), asEof()];
  }
}
