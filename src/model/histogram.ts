/**
 * A fixed-bucket histogram of non-negative values (seconds, in practice), as Prometheus exposes
 * them: the recording layer counts into it and the web layer renders it (web/metrics.ts).
 */
export class Histogram {
  /** Observations per bucket (not cumulative): buckets[i] counts values in (bounds[i-1], bounds[i]]. */
  readonly buckets: number[];
  count = 0;
  sum = 0;

  constructor(readonly bounds: readonly number[]) {
    this.buckets = new Array<number>(bounds.length).fill(0);
  }

  observe(value: number): void {
    this.count++;
    this.sum += value;
    // Values above the last bound count only in +Inf (count).
    const i = this.bounds.findIndex((b) => value <= b);
    if (i >= 0) this.buckets[i]!++;
  }
}
