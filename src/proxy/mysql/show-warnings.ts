/** The longest COM_QUERY payload read as `SHOW WARNINGS` (blanks around it included). */
const LONGEST = 64;

/**
 * Whether a COM_QUERY payload is `SHOW WARNINGS` (any case, blanks around it, a trailing `;`), as the
 * mysql client's `\W` and drivers send it. `SHOW WARNINGS LIMIT ...` and `SHOW COUNT(*) WARNINGS`
 * are not: dbtape adds its own warning to the plain list only.
 */
export function isShowWarnings(payload: Buffer): boolean {
  if (payload.length < 14 || payload.length > LONGEST) return false;
  return /^\s*show\s+warnings\s*;?\s*$/i.test(payload.toString('latin1', 1));
}
