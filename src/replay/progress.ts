/**
 * A progress bar for long exports, on stderr and only when stderr is a terminal: piped or
 * redirected output stays clean. It appears only once an export has run for a moment, so short
 * exports do not flicker, and it is erased when done.
 */

export interface Progress {
  advance(n?: number): void;
  done(): void;
}

export const noProgress: Progress = { advance: () => {}, done: () => {} };

export interface ProgressOptions {
  readonly label: string;
  readonly total: number;
  readonly stream?: NodeJS.WriteStream;
  /** Wait this long before drawing (default 300 ms). */
  readonly delayMs?: number;
  readonly now?: () => number;
}

const BAR = 30;

export function createProgress(options: ProgressOptions): Progress {
  const stream = options.stream ?? process.stderr;
  if (!stream.isTTY || options.total <= 0) return noProgress;
  const now = options.now ?? (() => performance.now());
  const started = now();
  const delay = options.delayMs ?? 300;
  let count = 0;
  let drawnAt = -Infinity;
  let drawn = false;
  const draw = (): void => {
    stream.write(`\r${progressLine(options.label, count, options.total)}`);
    drawn = true;
  };
  return {
    advance(n = 1) {
      count += n;
      const t = now();
      if (t - started < delay || t - drawnAt < 100) return;
      drawnAt = t;
      draw();
    },
    done() {
      // Erase the line: carriage return, then "erase in line" (ECMA-48 EL, CSI 2 K).
      if (drawn) stream.write('\r\u001b[2K');
    },
  };
}

/** One frame of the bar: `label [###...]  50% 5/10`. */
export function progressLine(label: string, count: number, total: number): string {
  const fraction = Math.min(1, count / total);
  const filled = Math.round(fraction * BAR);
  return `${label} [${'#'.repeat(filled)}${'.'.repeat(BAR - filled)}] ${String(Math.floor(fraction * 100)).padStart(3)}% ${count}/${total}`;
}
