import {
  CLIENT_DEPRECATE_EOF,
  CLIENT_SESSION_TRACK,
  encodeEof,
  encodeOk,
  eofAction,
  PACKET_HEADER_SIZE,
  type ResponsePacketKind,
  type ResponseTracker,
  translateEof,
} from '../../protocol/mysql/index.js';

/**
 * When the client and the upstream negotiated different DEPRECATE_EOF / SESSION_TRACK flags
 * (dbtape passes the client's choice on, but an old server may lack them), resultset framing
 * and OK packets differ (MySQL "EOF_Packet", "OK_Packet"). This says what to send instead of
 * each packet that differs; dropping or inserting packets shifts the sequence ids of the rest
 * of the response, which `shift` tracks.
 */
export class ResponseTranslation {
  /** True when the two sides differ at all (otherwise nothing here is used). */
  readonly active: boolean;
  /** Added to the upstream's sequence ids for the client, within the current response. */
  shift = 0;
  private readonly okDiffers: boolean;
  private readonly clientDeprecateEof: boolean;

  constructor(
    private readonly clientCapabilities: number,
    upstreamCapabilities: number,
  ) {
    const differs = clientCapabilities ^ upstreamCapabilities;
    this.active = (differs & (CLIENT_DEPRECATE_EOF | CLIENT_SESSION_TRACK)) !== 0;
    this.okDiffers = (differs & CLIENT_SESSION_TRACK) !== 0;
    this.clientDeprecateEof = (clientCapabilities & CLIENT_DEPRECATE_EOF) !== 0;
  }

  /** The payloads to send in place of the whole packet `payload` the tracker classified as `kind`. */
  replace(t: ResponseTracker, kind: ResponsePacketKind, payload: Buffer): Buffer[] {
    const out = translateEof(t, kind, payload, this.clientCapabilities);
    const ok = t.ok;
    if (!this.okDiffers || kind !== 'ok' || ok === null) return out;
    // SESSION_TRACK changes the OK layout: re-encode it as the client reads it.
    return out.map((p) =>
      p === payload ? encodeOk(ok, this.clientCapabilities, 0, ok.header).subarray(PACKET_HEADER_SIZE) : p,
    );
  }

  /** The classic EOF a row right after the definitions needs in front of it, if any. */
  beforeRow(t: ResponseTracker): Buffer | null {
    if (eofAction(t, 'row', this.clientDeprecateEof) !== 'prepend-eof') return null;
    const eof = encodeEof({ warnings: 0, statusFlags: t.statusFlags }, this.clientCapabilities, 0);
    return eof.subarray(PACKET_HEADER_SIZE);
  }
}
