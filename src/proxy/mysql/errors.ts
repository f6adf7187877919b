import { dbtapeMessage } from '../../model/dbtape-message.js';
import {
  ER_ACCESS_DENIED_ERROR,
  ER_UNKNOWN_ERROR,
  encodeErr,
  type ServerError,
} from '../../protocol/mysql/index.js';

/**
 * Errors dbtape raises on the MySQL side, as ERR packets clients show (`ERROR 1045 (28000): ...`).
 * Codes that protocol/mysql/constants.ts does not list live here.
 */

/** MySQL ER_SECURE_TRANSPORT_REQUIRED: a plaintext client when `tls.require` is on. */
export const ER_SECURE_TRANSPORT_REQUIRED: ServerError = { errno: 3159, sqlState: 'HY000' };
/** ER_NO_DB_ERROR: the handshake named no database, so no target. */
export const ER_NO_DB_ERROR: ServerError = { errno: 1046, sqlState: '3D000' };
/**
 * ER_CONNECT_TO_FOREIGN_DATA_SOURCE ("Unable to connect to foreign data source"): the target cannot
 * be reached, or not as its config requires. A server-range errno: libmariadb (the mariadb client,
 * mariadb-dump) shows an ERR carrying a client-range one, such as CR_CONN_HOST_ERROR 2003, as
 * "Received malformed packet" and drops its message.
 */
export const ER_CONNECT_TO_FOREIGN_DATA_SOURCE: ServerError = { errno: 1429, sqlState: 'HY000' };

/** An error that ends a phase with an ERR packet to the client. */
export class MysqlProxyError extends Error {
  constructor(
    readonly error: ServerError,
    message: string,
    readonly code = 'DBTAPE_MYSQL_PROXY',
  ) {
    super(message);
  }

  /** The ERR packet, its message marked as dbtape's (model/dbtape-message.ts). */
  packet(seq: number): Buffer {
    return errPacket(this.error, this.clientMessage, seq);
  }

  /** The message as the client gets it. */
  get clientMessage(): string {
    return dbtapeMessage(this.message);
  }
}

export function errPacket(e: ServerError, message: string, seq: number): Buffer {
  return encodeErr({ errno: e.errno, sqlState: e.sqlState, message }, seq);
}

/** The server's wording for a failed login (after the `dbtape:` of packet()), so clients and tools recognise it. */
export function accessDenied(user: string, host: string, usedPassword: boolean): MysqlProxyError {
  return new MysqlProxyError(
    ER_ACCESS_DENIED_ERROR,
    `Access denied for user '${user}'@'${host}' (using password: ${usedPassword ? 'YES' : 'NO'})`,
    'DBTAPE_MYSQL_AUTH',
  );
}

/** An upstream problem reported to the client (the message says what to fix). */
export function upstreamFailure(message: string): MysqlProxyError {
  return new MysqlProxyError(ER_UNKNOWN_ERROR, message, 'DBTAPE_MYSQL_UPSTREAM');
}
