/** Small helpers shared by CLI commands: a failure with an exit code, and aligned columns. */

/** A failure a command reports to the user: main prints `dbtape: <message>` and exits with `exitCode`. */
export class CliError extends Error {
  readonly code = 'DBTAPE_CLI';
  override name = 'CliError';

  constructor(
    message: string,
    readonly exitCode = 1,
  ) {
    super(message);
  }
}

/** Left-aligned columns, two spaces apart; the last column is not padded. */
export function columns(rows: readonly (readonly string[])[], indent = ''): string[] {
  const widths: number[] = [];
  for (const row of rows) {
    row.forEach((cell, i) => {
      if (i < row.length - 1) widths[i] = Math.max(widths[i] ?? 0, cell.length);
    });
  }
  return rows.map((row) =>
    (
      indent + row.map((cell, i) => (i < row.length - 1 ? cell.padEnd(widths[i]) : cell)).join('  ')
    ).trimEnd(),
  );
}
