/** Human formats for times, durations and sizes, shared by the terminal and HTML renderings. */

/** `2025-01-31 12:00:00.123Z`: UTC, so output does not depend on the viewer's time zone. */
export function formatTimestamp(us: number): string {
  const iso = new Date(Math.floor(us / 1000)).toISOString();
  return `${iso.slice(0, 10)} ${iso.slice(11, 23)}Z`;
}

/** `2025-01-31 12:00:00Z`, for tables. */
export function formatTimestampShort(us: number): string {
  const iso = new Date(Math.floor(us / 1000)).toISOString();
  return `${iso.slice(0, 10)} ${iso.slice(11, 19)}Z`;
}

/** A statement's duration as psql's \timing prints it: `Time: 1.234 ms`. */
export function formatMs(us: number): string {
  return `${(us / 1000).toFixed(3)} ms`;
}

/** A span for people: `850ms`, `12.3s`, `5m 03s`, `2h 05m`, `3d 04h`. */
export function formatSpan(us: number): string {
  const ms = Math.max(0, Math.round(us / 1000));
  if (ms < 1000) return `${ms}ms`;
  const s = ms / 1000;
  if (s < 60) return `${s.toFixed(1)}s`;
  const totalS = Math.floor(s);
  const two = (n: number) => String(n).padStart(2, '0');
  if (totalS < 3600) return `${Math.floor(totalS / 60)}m ${two(totalS % 60)}s`;
  if (totalS < 86_400) return `${Math.floor(totalS / 3600)}h ${two(Math.floor((totalS % 3600) / 60))}m`;
  return `${Math.floor(totalS / 86_400)}d ${two(Math.floor((totalS % 86_400) / 3600))}h`;
}

/** An offset from the session start: `+0:05.123`, `+1:02:03.000`. */
export function formatOffset(us: number): string {
  const totalMs = Math.max(0, Math.floor(us / 1000));
  const ms = String(totalMs % 1000).padStart(3, '0');
  const totalS = Math.floor(totalMs / 1000);
  const s = String(totalS % 60).padStart(2, '0');
  const totalM = Math.floor(totalS / 60);
  if (totalM < 60) return `+${totalM}:${s}.${ms}`;
  return `+${Math.floor(totalM / 60)}:${String(totalM % 60).padStart(2, '0')}:${s}.${ms}`;
}

export function formatBytes(n: number): string {
  if (n < 1024) return `${n} B`;
  const units = ['kB', 'MB', 'GB', 'TB'];
  let v = n / 1024;
  let i = 0;
  while (v >= 1024 && i < units.length - 1) {
    v /= 1024;
    i++;
  }
  return `${v.toFixed(1)} ${units[i]}`;
}

export function plural(n: number, one: string, many = `${one}s`): string {
  return `${n} ${n === 1 ? one : many}`;
}
