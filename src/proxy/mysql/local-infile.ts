import {
  CLIENT_LOCAL_FILES,
  ER_NOT_ALLOWED_COMMAND,
  type ErrPacket,
  hasCap,
  type ServerError,
} from '../../protocol/mysql/index.js';

/**
 * LOAD DATA LOCAL INFILE across dbtape (MySQL "LOCAL INFILE Request"). The client's file may reach
 * the server only when a role granting the target has local_infile: only then is CLIENT_LOCAL_FILES
 * carried upstream (capabilities.ts). Otherwise the server refuses the statement itself, before it
 * reads anything, and runs nothing after it in a multi-statement; the client gets dbtape's reason in
 * place of the server's. A server that asks for a file all the same breaks the protocol: it gets no
 * file, not even an empty one (that would let it run the rest of the text), and the session ends.
 */

/**
 * dbtape's refusal keeps the errno and SQLSTATE it has always had (MySQL's ER_NOT_ALLOWED_COMMAND,
 * which older servers give for this very case): one answer whatever the target's version, and
 * the one clients and scripts already match on.
 */
export const INFILE_REFUSED: ServerError = ER_NOT_ALLOWED_COMMAND;
export const INFILE_REFUSED_MESSAGE =
  'dbtape: LOAD DATA LOCAL INFILE is not allowed for your role (roles[].local_infile); no file was sent';

/**
 * The server's errors for LOAD DATA LOCAL on a connection without CLIENT_LOCAL_FILES: MariaDB's
 * ER_LOAD_INFILE_CAPABILITY_DISABLED (4166), MySQL 8's ER_CLIENT_LOCAL_FILES_DISABLED (3948), and
 * ER_NOT_ALLOWED_COMMAND (1148) on older servers.
 */
const SERVER_REFUSALS = new Set([4166, 3948, 1148]);

export class LocalInfile {
  /** A server's request for the client's file goes on to the client. */
  readonly passFile: boolean;
  /** dbtape kept CLIENT_LOCAL_FILES, which the client offered, from the server. */
  readonly withheld: boolean;

  constructor(
    private readonly roleAllows: boolean,
    clientCapabilities: number,
    upstreamCapabilities: number,
  ) {
    this.passFile = roleAllows && hasCap(upstreamCapabilities, CLIENT_LOCAL_FILES);
    this.withheld = !roleAllows && hasCap(clientCapabilities, CLIENT_LOCAL_FILES);
  }

  /**
   * dbtape's error in place of the server's `err` to a COM_QUERY, when it is the server refusing
   * LOAD DATA LOCAL because dbtape withheld the capability; else null (the server's error stands: a
   * client that declined to send files itself gets the server's own answer, as it would directly).
   */
  refusal(err: ErrPacket): ErrPacket | null {
    if (!this.withheld || !SERVER_REFUSALS.has(err.errno)) return null;
    return {
      errno: INFILE_REFUSED.errno,
      sqlState: INFILE_REFUSED.sqlState,
      message: INFILE_REFUSED_MESSAGE,
    };
  }

  /** What the client is told when the server asks for a file anyway (the session then ends). */
  requestMessage(): string {
    const why = this.roleAllows
      ? 'dbtape: LOAD DATA LOCAL INFILE was not negotiated on this connection; no file was sent'
      : INFILE_REFUSED_MESSAGE;
    return `${why}; the server asked for one anyway, so dbtape closed the session`;
  }
}
