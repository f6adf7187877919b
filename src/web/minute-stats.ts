/**
 * Statements and errors per minute and per dbtape user, for the dashboard's chart. Counted from
 * the live bus as events commit, and at start-up backfilled from the store for the last hour, so
 * the chart is not empty after a restart. Older minutes than the window are dropped.
 */
export interface MinuteCount {
  statements: number;
  errors: number;
}

export interface MinuteBucket {
  /** Start of the minute, ms since the epoch. */
  readonly atMs: number;
  readonly statements: number;
  readonly errors: number;
}

const MINUTE_MS = 60_000;

export class MinuteStats {
  /** minute index → user → counts. */
  private readonly minutes = new Map<number, Map<string, MinuteCount>>();

  constructor(
    private readonly windowMinutes = 24 * 60,
    private readonly now: () => number = Date.now,
  ) {}

  record(user: string, atUs: number, kind: 'statement' | 'error'): void {
    const minute = Math.floor(atUs / 1000 / MINUTE_MS);
    const oldest = this.currentMinute() - this.windowMinutes;
    if (minute <= oldest) return;
    let users = this.minutes.get(minute);
    if (!users) {
      users = new Map();
      this.minutes.set(minute, users);
      this.prune(oldest);
    }
    let c = users.get(user);
    if (!c) {
      c = { statements: 0, errors: 0 };
      users.set(user, c);
    }
    if (kind === 'statement') c.statements++;
    else c.errors++;
  }

  /** The last `count` minutes, oldest first, summed over the users `visible` accepts. */
  series(count: number, visible: (user: string) => boolean): MinuteBucket[] {
    const last = this.currentMinute();
    const out: MinuteBucket[] = [];
    for (let m = last - Math.min(count, this.windowMinutes) + 1; m <= last; m++) {
      let statements = 0;
      let errors = 0;
      for (const [user, c] of this.minutes.get(m) ?? []) {
        if (!visible(user)) continue;
        statements += c.statements;
        errors += c.errors;
      }
      out.push({ atMs: m * MINUTE_MS, statements, errors });
    }
    return out;
  }

  private currentMinute(): number {
    return Math.floor(this.now() / MINUTE_MS);
  }

  private prune(oldest: number): void {
    for (const m of this.minutes.keys()) if (m <= oldest) this.minutes.delete(m);
  }
}
