/**
 * MySQL / MariaDB protocol constants.
 * Sources: MySQL source documentation "Client/Server Protocol" (capabilities, status flags,
 * COM_* bytes, enum_field_types) and MariaDB "Clients & Connectors / Client-Server protocol".
 *
 * Capability flags are kept as unsigned 32-bit numbers; MariaDB's extended capabilities
 * (bits 32..63 of its 64-bit capability set) are a second unsigned 32-bit number.
 */

// ---- Capability flags (lower 32 bits) ----
/** MySQL: new more secure passwords. MariaDB servers clear it to announce themselves (then named CLIENT_MYSQL). */
export const CLIENT_LONG_PASSWORD = 0x00000001;
export const CLIENT_MYSQL = CLIENT_LONG_PASSWORD;
export const CLIENT_FOUND_ROWS = 0x00000002;
export const CLIENT_LONG_FLAG = 0x00000004;
export const CLIENT_CONNECT_WITH_DB = 0x00000008;
export const CLIENT_NO_SCHEMA = 0x00000010;
export const CLIENT_COMPRESS = 0x00000020;
export const CLIENT_ODBC = 0x00000040;
export const CLIENT_LOCAL_FILES = 0x00000080;
export const CLIENT_IGNORE_SPACE = 0x00000100;
export const CLIENT_PROTOCOL_41 = 0x00000200;
export const CLIENT_INTERACTIVE = 0x00000400;
export const CLIENT_SSL = 0x00000800;
export const CLIENT_IGNORE_SIGPIPE = 0x00001000;
export const CLIENT_TRANSACTIONS = 0x00002000;
export const CLIENT_RESERVED = 0x00004000;
/** a.k.a. CLIENT_RESERVED2: 4.1 authentication (length-prefixed auth response). */
export const CLIENT_SECURE_CONNECTION = 0x00008000;
export const CLIENT_MULTI_STATEMENTS = 0x00010000;
export const CLIENT_MULTI_RESULTS = 0x00020000;
export const CLIENT_PS_MULTI_RESULTS = 0x00040000;
export const CLIENT_PLUGIN_AUTH = 0x00080000;
export const CLIENT_CONNECT_ATTRS = 0x00100000;
export const CLIENT_PLUGIN_AUTH_LENENC_CLIENT_DATA = 0x00200000;
export const CLIENT_CAN_HANDLE_EXPIRED_PASSWORDS = 0x00400000;
export const CLIENT_SESSION_TRACK = 0x00800000;
export const CLIENT_DEPRECATE_EOF = 0x01000000;
/** MySQL 8: resultset metadata may be omitted (adds a metadata_follows byte). A proxy must not pass it through. */
export const CLIENT_OPTIONAL_RESULTSET_METADATA = 0x02000000;
/** MySQL 8.0.18: zstd compression; the handshake response then ends with a level byte. */
export const CLIENT_ZSTD_COMPRESSION_ALGORITHM = 0x04000000;
/** MySQL 8.0.23: query attributes in COM_QUERY and COM_STMT_EXECUTE. */
export const CLIENT_QUERY_ATTRIBUTES = 0x08000000;
export const MULTI_FACTOR_AUTHENTICATION = 0x10000000;
export const CLIENT_CAPABILITY_EXTENSION = 0x20000000;
export const CLIENT_SSL_VERIFY_SERVER_CERT = 0x40000000;
export const CLIENT_REMEMBER_OPTIONS = 0x80000000;

// ---- MariaDB extended capabilities (bit n here is bit 32+n of MariaDB's 64-bit set) ----
export const MARIADB_CLIENT_PROGRESS = 0x00000001;
export const MARIADB_CLIENT_COM_MULTI = 0x00000002;
export const MARIADB_CLIENT_STMT_BULK_OPERATIONS = 0x00000004;
/** Column definitions carry an extra lenenc "extended type info" field. */
export const MARIADB_CLIENT_EXTENDED_METADATA = 0x00000008;
/** COM_STMT_EXECUTE responses may skip metadata (adds a metadata_follows byte). */
export const MARIADB_CLIENT_CACHE_METADATA = 0x00000010;
export const MARIADB_CLIENT_BULK_UNIT_RESULTS = 0x00000020;

/** True when `flag` is set in `caps` (works for flags above bit 30 too). */
export function hasCap(caps: number, flag: number): boolean {
  return (caps & flag) !== 0;
}

// ---- Server status flags (OK / EOF packets) ----
export const SERVER_STATUS_IN_TRANS = 0x0001;
export const SERVER_STATUS_AUTOCOMMIT = 0x0002;
export const SERVER_MORE_RESULTS_EXISTS = 0x0008;
export const SERVER_QUERY_NO_GOOD_INDEX_USED = 0x0010;
export const SERVER_QUERY_NO_INDEX_USED = 0x0020;
export const SERVER_STATUS_CURSOR_EXISTS = 0x0040;
export const SERVER_STATUS_LAST_ROW_SENT = 0x0080;
export const SERVER_STATUS_DB_DROPPED = 0x0100;
export const SERVER_STATUS_NO_BACKSLASH_ESCAPES = 0x0200;
export const SERVER_STATUS_METADATA_CHANGED = 0x0400;
export const SERVER_QUERY_WAS_SLOW = 0x0800;
export const SERVER_PS_OUT_PARAMS = 0x1000;
export const SERVER_STATUS_IN_TRANS_READONLY = 0x2000;
export const SERVER_SESSION_STATE_CHANGED = 0x4000;

// ---- Commands (first payload byte of a client command packet) ----
export const COM_SLEEP = 0x00;
export const COM_QUIT = 0x01;
export const COM_INIT_DB = 0x02;
export const COM_QUERY = 0x03;
export const COM_FIELD_LIST = 0x04;
export const COM_CREATE_DB = 0x05;
export const COM_DROP_DB = 0x06;
export const COM_REFRESH = 0x07;
export const COM_SHUTDOWN = 0x08;
export const COM_STATISTICS = 0x09;
export const COM_PROCESS_INFO = 0x0a;
export const COM_CONNECT = 0x0b;
export const COM_PROCESS_KILL = 0x0c;
export const COM_DEBUG = 0x0d;
export const COM_PING = 0x0e;
export const COM_TIME = 0x0f;
export const COM_DELAYED_INSERT = 0x10;
export const COM_CHANGE_USER = 0x11;
export const COM_BINLOG_DUMP = 0x12;
export const COM_TABLE_DUMP = 0x13;
export const COM_CONNECT_OUT = 0x14;
export const COM_REGISTER_SLAVE = 0x15;
export const COM_STMT_PREPARE = 0x16;
export const COM_STMT_EXECUTE = 0x17;
export const COM_STMT_SEND_LONG_DATA = 0x18;
export const COM_STMT_CLOSE = 0x19;
export const COM_STMT_RESET = 0x1a;
export const COM_SET_OPTION = 0x1b;
export const COM_STMT_FETCH = 0x1c;
export const COM_DAEMON = 0x1d;
export const COM_BINLOG_DUMP_GTID = 0x1e;
export const COM_RESET_CONNECTION = 0x1f;
/** MariaDB bulk execute (needs MARIADB_CLIENT_STMT_BULK_OPERATIONS). */
export const COM_STMT_BULK_EXECUTE = 0xfa;

const COMMAND_NAMES: Record<number, string> = {
  [COM_SLEEP]: 'COM_SLEEP',
  [COM_QUIT]: 'COM_QUIT',
  [COM_INIT_DB]: 'COM_INIT_DB',
  [COM_QUERY]: 'COM_QUERY',
  [COM_FIELD_LIST]: 'COM_FIELD_LIST',
  [COM_CREATE_DB]: 'COM_CREATE_DB',
  [COM_DROP_DB]: 'COM_DROP_DB',
  [COM_REFRESH]: 'COM_REFRESH',
  [COM_SHUTDOWN]: 'COM_SHUTDOWN',
  [COM_STATISTICS]: 'COM_STATISTICS',
  [COM_PROCESS_INFO]: 'COM_PROCESS_INFO',
  [COM_CONNECT]: 'COM_CONNECT',
  [COM_PROCESS_KILL]: 'COM_PROCESS_KILL',
  [COM_DEBUG]: 'COM_DEBUG',
  [COM_PING]: 'COM_PING',
  [COM_TIME]: 'COM_TIME',
  [COM_DELAYED_INSERT]: 'COM_DELAYED_INSERT',
  [COM_CHANGE_USER]: 'COM_CHANGE_USER',
  [COM_BINLOG_DUMP]: 'COM_BINLOG_DUMP',
  [COM_TABLE_DUMP]: 'COM_TABLE_DUMP',
  [COM_CONNECT_OUT]: 'COM_CONNECT_OUT',
  [COM_REGISTER_SLAVE]: 'COM_REGISTER_SLAVE',
  [COM_STMT_PREPARE]: 'COM_STMT_PREPARE',
  [COM_STMT_EXECUTE]: 'COM_STMT_EXECUTE',
  [COM_STMT_SEND_LONG_DATA]: 'COM_STMT_SEND_LONG_DATA',
  [COM_STMT_CLOSE]: 'COM_STMT_CLOSE',
  [COM_STMT_RESET]: 'COM_STMT_RESET',
  [COM_SET_OPTION]: 'COM_SET_OPTION',
  [COM_STMT_FETCH]: 'COM_STMT_FETCH',
  [COM_DAEMON]: 'COM_DAEMON',
  [COM_BINLOG_DUMP_GTID]: 'COM_BINLOG_DUMP_GTID',
  [COM_RESET_CONNECTION]: 'COM_RESET_CONNECTION',
  [COM_STMT_BULK_EXECUTE]: 'COM_STMT_BULK_EXECUTE',
};

/** 'COM_QUERY' etc., or 'COM_0xNN' for bytes no server knows. */
export function commandName(command: number): string {
  return COMMAND_NAMES[command] ?? `COM_0x${command.toString(16).padStart(2, '0')}`;
}

// ---- COM_STMT_EXECUTE flags (enum_cursor_type) ----
export const CURSOR_TYPE_NO_CURSOR = 0x00;
export const CURSOR_TYPE_READ_ONLY = 0x01;
export const CURSOR_TYPE_FOR_UPDATE = 0x02;
export const CURSOR_TYPE_SCROLLABLE = 0x04;
/** MySQL 8.0.26: parameter_count is present although the statement has no parameters. */
export const PARAMETER_COUNT_AVAILABLE = 0x08;

// ---- COM_SET_OPTION values ----
export const MYSQL_OPTION_MULTI_STATEMENTS_ON = 0;
export const MYSQL_OPTION_MULTI_STATEMENTS_OFF = 1;

// ---- Column types (enum_field_types) ----
export const MYSQL_TYPE_DECIMAL = 0x00;
export const MYSQL_TYPE_TINY = 0x01;
export const MYSQL_TYPE_SHORT = 0x02;
export const MYSQL_TYPE_LONG = 0x03;
export const MYSQL_TYPE_FLOAT = 0x04;
export const MYSQL_TYPE_DOUBLE = 0x05;
export const MYSQL_TYPE_NULL = 0x06;
export const MYSQL_TYPE_TIMESTAMP = 0x07;
export const MYSQL_TYPE_LONGLONG = 0x08;
export const MYSQL_TYPE_INT24 = 0x09;
export const MYSQL_TYPE_DATE = 0x0a;
export const MYSQL_TYPE_TIME = 0x0b;
export const MYSQL_TYPE_DATETIME = 0x0c;
export const MYSQL_TYPE_YEAR = 0x0d;
export const MYSQL_TYPE_NEWDATE = 0x0e;
export const MYSQL_TYPE_VARCHAR = 0x0f;
export const MYSQL_TYPE_BIT = 0x10;
export const MYSQL_TYPE_TIMESTAMP2 = 0x11;
export const MYSQL_TYPE_DATETIME2 = 0x12;
export const MYSQL_TYPE_TIME2 = 0x13;
export const MYSQL_TYPE_TYPED_ARRAY = 0x14;
export const MYSQL_TYPE_VECTOR = 0xf2;
export const MYSQL_TYPE_INVALID = 0xf3;
export const MYSQL_TYPE_BOOL = 0xf4;
export const MYSQL_TYPE_JSON = 0xf5;
export const MYSQL_TYPE_NEWDECIMAL = 0xf6;
export const MYSQL_TYPE_ENUM = 0xf7;
export const MYSQL_TYPE_SET = 0xf8;
export const MYSQL_TYPE_TINY_BLOB = 0xf9;
export const MYSQL_TYPE_MEDIUM_BLOB = 0xfa;
export const MYSQL_TYPE_LONG_BLOB = 0xfb;
export const MYSQL_TYPE_BLOB = 0xfc;
export const MYSQL_TYPE_VAR_STRING = 0xfd;
export const MYSQL_TYPE_STRING = 0xfe;
export const MYSQL_TYPE_GEOMETRY = 0xff;

const TYPE_NAMES: Record<number, string> = {
  [MYSQL_TYPE_DECIMAL]: 'DECIMAL',
  [MYSQL_TYPE_TINY]: 'TINY',
  [MYSQL_TYPE_SHORT]: 'SHORT',
  [MYSQL_TYPE_LONG]: 'LONG',
  [MYSQL_TYPE_FLOAT]: 'FLOAT',
  [MYSQL_TYPE_DOUBLE]: 'DOUBLE',
  [MYSQL_TYPE_NULL]: 'NULL',
  [MYSQL_TYPE_TIMESTAMP]: 'TIMESTAMP',
  [MYSQL_TYPE_LONGLONG]: 'LONGLONG',
  [MYSQL_TYPE_INT24]: 'INT24',
  [MYSQL_TYPE_DATE]: 'DATE',
  [MYSQL_TYPE_TIME]: 'TIME',
  [MYSQL_TYPE_DATETIME]: 'DATETIME',
  [MYSQL_TYPE_YEAR]: 'YEAR',
  [MYSQL_TYPE_NEWDATE]: 'NEWDATE',
  [MYSQL_TYPE_VARCHAR]: 'VARCHAR',
  [MYSQL_TYPE_BIT]: 'BIT',
  [MYSQL_TYPE_TIMESTAMP2]: 'TIMESTAMP2',
  [MYSQL_TYPE_DATETIME2]: 'DATETIME2',
  [MYSQL_TYPE_TIME2]: 'TIME2',
  [MYSQL_TYPE_VECTOR]: 'VECTOR',
  [MYSQL_TYPE_BOOL]: 'BOOL',
  [MYSQL_TYPE_JSON]: 'JSON',
  [MYSQL_TYPE_NEWDECIMAL]: 'NEWDECIMAL',
  [MYSQL_TYPE_ENUM]: 'ENUM',
  [MYSQL_TYPE_SET]: 'SET',
  [MYSQL_TYPE_TINY_BLOB]: 'TINY_BLOB',
  [MYSQL_TYPE_MEDIUM_BLOB]: 'MEDIUM_BLOB',
  [MYSQL_TYPE_LONG_BLOB]: 'LONG_BLOB',
  [MYSQL_TYPE_BLOB]: 'BLOB',
  [MYSQL_TYPE_VAR_STRING]: 'VAR_STRING',
  [MYSQL_TYPE_STRING]: 'STRING',
  [MYSQL_TYPE_GEOMETRY]: 'GEOMETRY',
};

/** 'VARCHAR', 'LONGLONG'... as recorded in ResultColumn.type; 'TYPE_0xNN' when unknown. */
export function typeName(type: number): string {
  return TYPE_NAMES[type] ?? `TYPE_0x${type.toString(16).padStart(2, '0')}`;
}

// ---- Column definition flags ----
export const NOT_NULL_FLAG = 0x0001;
export const PRI_KEY_FLAG = 0x0002;
export const UNIQUE_KEY_FLAG = 0x0004;
export const MULTIPLE_KEY_FLAG = 0x0008;
export const BLOB_FLAG = 0x0010;
export const UNSIGNED_FLAG = 0x0020;
export const ZEROFILL_FLAG = 0x0040;
export const BINARY_FLAG = 0x0080;
export const ENUM_FLAG = 0x0100;
export const AUTO_INCREMENT_FLAG = 0x0200;
export const TIMESTAMP_FLAG = 0x0400;
export const SET_FLAG = 0x0800;
export const NUM_FLAG = 0x8000;

/** Parameter flag byte in COM_STMT_EXECUTE types: the value is unsigned. */
export const PARAM_FLAG_UNSIGNED = 0x80;

// ---- Character sets (collation ids) ----
export const CHARSET_LATIN1_SWEDISH_CI = 8;
export const CHARSET_UTF8_GENERAL_CI = 33;
export const CHARSET_UTF8MB4_GENERAL_CI = 45;
/** The `binary` pseudo charset: column values are bytes, not text. */
export const CHARSET_BINARY = 63;
export const CHARSET_UTF8MB4_UNICODE_CI = 224;
export const CHARSET_UTF8MB4_0900_AI_CI = 255;

// ---- Packet framing ----
/** A physical packet of this payload length is continued by the next one (MySQL "Sending More Than 16Mb"). */
export const MAX_PACKET_PAYLOAD = 0xffffff;
export const PACKET_HEADER_SIZE = 4;

// ---- Response headers ----
export const OK_HEADER = 0x00;
export const EOF_HEADER = 0xfe;
export const ERR_HEADER = 0xff;
export const LOCAL_INFILE_HEADER = 0xfb;
export const AUTH_SWITCH_HEADER = 0xfe;
export const AUTH_MORE_DATA_HEADER = 0x01;
/** caching_sha2_password AuthMoreData statuses. */
export const CACHING_SHA2_FAST_AUTH_SUCCESS = 0x03;
export const CACHING_SHA2_PERFORM_FULL_AUTH = 0x04;
/** Client's request for the server RSA key: caching_sha2_password uses 2, sha256_password 1. */
export const CACHING_SHA2_REQUEST_PUBLIC_KEY = 0x02;
export const SHA256_REQUEST_PUBLIC_KEY = 0x01;

// ---- Auth plugin names ----
export const PLUGIN_NATIVE_PASSWORD = 'mysql_native_password';
export const PLUGIN_CACHING_SHA2 = 'caching_sha2_password';
export const PLUGIN_SHA256 = 'sha256_password';
export const PLUGIN_CLEAR_PASSWORD = 'mysql_clear_password';
export const PLUGIN_ED25519 = 'client_ed25519';

// ---- Server error codes dbtape originates, with their SQLSTATEs ----
export interface ServerError {
  readonly errno: number;
  readonly sqlState: string;
}
export const ER_CON_COUNT_ERROR: ServerError = { errno: 1040, sqlState: '08004' };
export const ER_HANDSHAKE_ERROR: ServerError = { errno: 1043, sqlState: '08S01' };
export const ER_DBACCESS_DENIED_ERROR: ServerError = { errno: 1044, sqlState: '42000' };
export const ER_ACCESS_DENIED_ERROR: ServerError = { errno: 1045, sqlState: '28000' };
export const ER_UNKNOWN_COM_ERROR: ServerError = { errno: 1047, sqlState: '08S01' };
export const ER_BAD_DB_ERROR: ServerError = { errno: 1049, sqlState: '42000' };
export const ER_SERVER_SHUTDOWN: ServerError = { errno: 1053, sqlState: '08S01' };
export const ER_NO_SUCH_THREAD: ServerError = { errno: 1094, sqlState: 'HY000' };
export const ER_UNKNOWN_ERROR: ServerError = { errno: 1105, sqlState: 'HY000' };
export const ER_TABLEACCESS_DENIED_ERROR: ServerError = { errno: 1142, sqlState: '42000' };
/** "The used command is not allowed with this MariaDB version": MariaDB's answer to a refused LOAD DATA LOCAL. */
export const ER_NOT_ALLOWED_COMMAND: ServerError = { errno: 1148, sqlState: '42000' };
export const ER_NET_PACKET_TOO_LARGE: ServerError = { errno: 1153, sqlState: '08S01' };
export const ER_NET_PACKETS_OUT_OF_ORDER: ServerError = { errno: 1156, sqlState: '08S01' };
export const ER_NET_READ_ERROR: ServerError = { errno: 1158, sqlState: '08S01' };
export const ER_NET_READ_INTERRUPTED: ServerError = { errno: 1159, sqlState: '08S01' };
export const ER_NET_ERROR_ON_WRITE: ServerError = { errno: 1160, sqlState: '08S01' };
export const ER_NET_WRITE_INTERRUPTED: ServerError = { errno: 1161, sqlState: '08S01' };
/** "Deadlock found when trying to get lock": InnoDB rolled back the victim's whole transaction. */
export const ER_LOCK_DEADLOCK: ServerError = { errno: 1213, sqlState: '40001' };
export const ER_SPECIFIC_ACCESS_DENIED_ERROR: ServerError = { errno: 1227, sqlState: '42000' };
export const ER_NOT_SUPPORTED_YET: ServerError = { errno: 1235, sqlState: '42000' };
export const ER_UNKNOWN_STMT_HANDLER: ServerError = { errno: 1243, sqlState: 'HY000' };
export const ER_NOT_SUPPORTED_AUTH_MODE: ServerError = { errno: 1251, sqlState: '08004' };
export const ER_QUERY_INTERRUPTED: ServerError = { errno: 1317, sqlState: '70100' };
export const ER_MALFORMED_PACKET: ServerError = { errno: 1835, sqlState: 'HY000' };
/** CR_SERVER_LOST is a client-side code: a proxy never sends it, it is listed for recordings. */
export const CR_SERVER_LOST = 2013;
