/**
 * When each event of a replay is due. Replay keeps the recorded rhythm: an event recorded at
 * offset t is shown t / speed after the replay began. Due times are absolute (measured from the
 * replay's start, not from the previous event), so timer lateness never accumulates over a long
 * session. `maxPauseUs` shortens long idle gaps (like asciinema's idle_time_limit).
 */

export interface TimelineOptions {
  /** 1 = original speed, 2 = twice as fast. Must be > 0. */
  readonly speed?: number;
  /** No waiting at all. */
  readonly instant?: boolean;
  /** Longest recorded gap kept between two events, in microseconds; longer ones are cut to this. */
  readonly maxPauseUs?: number;
}

export class ReplaySchedule {
  private readonly speed: number;
  private readonly instant: boolean;
  private readonly maxPauseUs: number;
  private prevOffsetUs: number | null = null;
  /** Recorded time elapsed so far, after pauses are capped, in microseconds. */
  private elapsedUs = 0;

  constructor(options: TimelineOptions = {}) {
    const speed = options.speed ?? 1;
    if (!(speed > 0) || !Number.isFinite(speed)) throw new RangeError('speed must be a positive number');
    this.speed = speed;
    this.instant = options.instant ?? false;
    this.maxPauseUs = options.maxPauseUs ?? Number.POSITIVE_INFINITY;
  }

  /**
   * Milliseconds after the replay's start at which the event recorded at `offsetUs` is due.
   * Call once per event, in order. The first event is due when its offset says (a session
   * replayed from its start begins at offset 0).
   */
  dueMs(offsetUs: number): number {
    if (this.instant) return 0;
    const prev = this.prevOffsetUs ?? 0;
    // Offsets are monotonic within a session; tolerate a damaged store rather than go back in time.
    const gap = Math.max(0, offsetUs - prev);
    this.elapsedUs += Math.min(gap, this.maxPauseUs);
    this.prevOffsetUs = Math.max(prev, offsetUs);
    return this.elapsedUs / 1000 / this.speed;
  }

  /** Start counting from this offset (e.g. --follow joins late and shows the backlog at once). */
  restartAt(offsetUs: number): void {
    this.prevOffsetUs = offsetUs;
    this.elapsedUs = 0;
  }
}

/** The due times of a whole list of offsets (tests, exports). */
export function dueTimesMs(offsetsUs: readonly number[], options: TimelineOptions = {}): number[] {
  const schedule = new ReplaySchedule(options);
  return offsetsUs.map((o) => schedule.dueMs(o));
}
