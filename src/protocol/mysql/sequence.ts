/**
 * Sequence ids (MySQL protocol basics, "Sequence ID"): every physical packet carries one; it
 * starts at 0 with each command (and with the connection's handshake), counts up across both
 * directions of the exchange and wraps from 255 to 0.
 */

export interface SequenceMismatch {
  readonly expected: number;
  readonly got: number;
}

export class SequenceTracker {
  /** The id the next physical packet must carry. */
  expected = 0;
  /** The first mismatch since the last reset, if any. */
  mismatch: SequenceMismatch | null = null;

  /** Start a new exchange (a command: 0; a response continuing a command: the next id). */
  reset(to = 0): void {
    this.expected = to & 0xff;
    this.mismatch = null;
  }

  /**
   * Check the id of the next physical packet. Returns true when it matches; on a mismatch it
   * records the first one and resynchronises on the id received, so one bad packet is reported once.
   */
  check(seq: number): boolean {
    const ok = seq === this.expected;
    if (!ok && this.mismatch === null) this.mismatch = { expected: this.expected, got: seq };
    this.expected = (seq + 1) & 0xff;
    return ok;
  }

  /** Consume `count` ids the proxy itself sends (e.g. an inserted EOF packet); returns the first. */
  take(count = 1): number {
    const first = this.expected;
    this.expected = (this.expected + count) & 0xff;
    return first;
  }
}
