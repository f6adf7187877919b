/**
 * "End this once `ms` pass without progress", for a session that is closing and waits for the
 * message under way to get through.
 *
 * A timer alone misjudges a stalled process (a long GC pause, a machine so loaded that the proxy
 * got no CPU for seconds): the timer fires as soon as the process runs again, in the event loop's
 * timer phase, before the I/O callbacks that would have shown the socket kept moving. So a timer
 * that fires late by more than half its period is taken as a stall of the proxy, not of the peer,
 * and the wait starts over, a few times at most, so that a peer that is really stuck is still let
 * go while the proxy stays that loaded.
 */
const MAX_STALLS = 3;

export class ProgressDeadline {
  private readonly timer: NodeJS.Timeout;
  private armedAt = performance.now();
  private stalls = 0;

  constructor(
    private readonly ms: number,
    private readonly expire: () => void,
  ) {
    this.timer = setTimeout(() => this.fired(), ms).unref();
  }

  /** Bytes moved: the wait starts over. */
  progress(): void {
    this.stalls = 0;
    this.rearm();
  }

  /** Nothing more to wait for (the session ended another way). */
  cancel(): void {
    clearTimeout(this.timer);
  }

  private fired(): void {
    const late = performance.now() - this.armedAt - this.ms;
    if (late > this.ms / 2 && this.stalls < MAX_STALLS) {
      this.stalls++;
      this.rearm();
      return;
    }
    this.expire();
  }

  private rearm(): void {
    this.armedAt = performance.now();
    this.timer.refresh();
  }
}
