/** Command-line and environment settings shared by the benchmark scripts. */

/** The entries of `all` named in `wanted` (all of them when null), failing on an unknown name. */
export function pick<T extends { name: string }>(
  all: readonly T[],
  wanted: string[] | null,
  what: string,
): T[] {
  if (!wanted) return [...all];
  return wanted.map((name) => {
    const found = all.find((x) => x.name === name);
    if (!found) throw new Error(`unknown ${what} '${name}'; known: ${all.map((x) => x.name).join(', ')}`);
    return found;
  });
}

/** A comma list, or null when not given. */
export function list(raw: string | undefined): string[] | null {
  return raw
    ? raw
        .split(',')
        .map((s) => s.trim())
        .filter(Boolean)
    : null;
}

export function positiveInt(raw: string | undefined, fallback: number, what: string): number {
  if (raw === undefined || raw === '') return fallback;
  const n = Number(raw);
  if (!Number.isInteger(n) || n <= 0) throw new Error(`${what} must be a positive integer, got '${raw}'`);
  return n;
}
