/**
 * Which result column types hold text, so content detectors skip numbers, dates and binary data.
 * PostgreSQL type OIDs: src/include/catalog/pg_type.dat; MySQL column types: the protocol's
 * MYSQL_TYPE_* values (https://dev.mysql.com/doc/dev/mysql-server/latest/field__types_8h.html).
 */

/** Known non-text PostgreSQL types (and their arrays); anything else, domains and extensions included, counts as text. */
const PG_NOT_TEXT = new Set([
  16, 17, 20, 21, 23, 26, 700, 701, 790, 1700, 1082, 1083, 1114, 1184, 1186, 1266, 2950, 869, 650, 829, 774,
  1560, 1562, 3220, 1000, 1001, 1005, 1007, 1016, 1021, 1022, 1231, 1182, 1183, 1115, 1185, 1187, 2951,
]);

export function isTextualPgType(oid: number): boolean {
  return !PG_NOT_TEXT.has(oid);
}

/** VARCHAR, JSON, ENUM, SET, the BLOB/TEXT family, VAR_STRING, STRING. */
const MYSQL_TEXT = new Set([15, 245, 247, 248, 249, 250, 251, 252, 253, 254]);

/** `binary`: the column's character set is binary (63): BLOB/VARBINARY data are not text. */
export function isTextualMysqlType(type: number, binary = false): boolean {
  return MYSQL_TEXT.has(type) && !binary;
}
