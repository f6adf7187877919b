import * as C from '../../protocol/mysql/index.js';

/**
 * Which capability flags dbtape offers clients and asks of upstreams (MySQL "Capabilities
 * Flags"). dbtape greets the client before it knows the target, so the offer is fixed; the
 * upstream then gets what the client negotiated, intersected with what that server offers,
 * and the pipeline translates the few differences that change the wire format.
 */

/**
 * Offered to clients. Not offered: COMPRESS (every byte would have to be re-framed),
 * OPTIONAL_RESULTSET_METADATA and QUERY_ATTRIBUTES (MySQL 8 only: MariaDB targets could not
 * honour them), ZSTD, MULTI_FACTOR_AUTHENTICATION, and MariaDB's extended capabilities
 * (dbtape presents itself with CLIENT_MYSQL set, so clients send none).
 */
export const OFFERED_CAPABILITIES =
  (C.CLIENT_LONG_PASSWORD |
    C.CLIENT_FOUND_ROWS |
    C.CLIENT_LONG_FLAG |
    C.CLIENT_CONNECT_WITH_DB |
    C.CLIENT_NO_SCHEMA |
    C.CLIENT_ODBC |
    C.CLIENT_LOCAL_FILES |
    C.CLIENT_IGNORE_SPACE |
    C.CLIENT_PROTOCOL_41 |
    C.CLIENT_INTERACTIVE |
    C.CLIENT_IGNORE_SIGPIPE |
    C.CLIENT_TRANSACTIONS |
    C.CLIENT_RESERVED |
    C.CLIENT_SECURE_CONNECTION |
    C.CLIENT_MULTI_STATEMENTS |
    C.CLIENT_MULTI_RESULTS |
    C.CLIENT_PS_MULTI_RESULTS |
    C.CLIENT_PLUGIN_AUTH |
    C.CLIENT_CONNECT_ATTRS |
    C.CLIENT_PLUGIN_AUTH_LENENC_CLIENT_DATA |
    C.CLIENT_SESSION_TRACK |
    C.CLIENT_DEPRECATE_EOF) >>>
  0;

/** Flags of the client's choice that the upstream connection carries over as they are. */
const CLIENT_CHOICES =
  C.CLIENT_FOUND_ROWS |
  C.CLIENT_LONG_FLAG |
  C.CLIENT_NO_SCHEMA |
  C.CLIENT_ODBC |
  C.CLIENT_LOCAL_FILES |
  C.CLIENT_IGNORE_SPACE |
  C.CLIENT_INTERACTIVE |
  C.CLIENT_IGNORE_SIGPIPE |
  C.CLIENT_TRANSACTIONS |
  C.CLIENT_MULTI_STATEMENTS |
  C.CLIENT_MULTI_RESULTS |
  C.CLIENT_PS_MULTI_RESULTS |
  C.CLIENT_SESSION_TRACK |
  C.CLIENT_DEPRECATE_EOF;

/** What dbtape's own login needs, whatever the client chose (kept where the server offers them). */
const LOGIN_NEEDS =
  C.CLIENT_PROTOCOL_41 |
  C.CLIENT_SECURE_CONNECTION |
  C.CLIENT_PLUGIN_AUTH |
  C.CLIENT_PLUGIN_AUTH_LENENC_CLIENT_DATA |
  C.CLIENT_CONNECT_WITH_DB |
  C.CLIENT_CONNECT_ATTRS |
  C.CLIENT_RESERVED;

/** Flags in effect between a client and dbtape: both sides must have set them. */
export function negotiatedWithClient(clientFlags: number, offered: number): number {
  return (clientFlags & offered) >>> 0;
}

/**
 * Flags for the upstream HandshakeResponse. CLIENT_MYSQL (bit 0) is always set so a MariaDB
 * server takes dbtape for a MySQL client and expects no extended capabilities.
 *
 * `localFiles`: the session may pass the client's file to the server (a role's local_infile).
 * Without it CLIENT_LOCAL_FILES is withheld even when the client offers it, so the server itself
 * refuses LOAD DATA LOCAL before reading anything and stops a multi-statement there, as for a
 * client started with --local-infile=0 (responses.ts tells the client why).
 */
export function upstreamCapabilities(
  clientNegotiated: number,
  serverOffered: number,
  tls: boolean,
  localFiles: boolean,
): number {
  const choices = localFiles ? CLIENT_CHOICES : CLIENT_CHOICES & ~C.CLIENT_LOCAL_FILES;
  const wanted = (clientNegotiated & choices) | LOGIN_NEEDS;
  let caps = (wanted & serverOffered) | C.CLIENT_LONG_PASSWORD;
  if (tls) caps |= C.CLIENT_SSL;
  return caps >>> 0;
}
