/** Shared session types: what every layer agrees a recorded session is. */

export type SessionId = string;
export type Protocol = 'postgres' | 'mysql';

/** Why a session ended; recorded on the `end` event and in the session row. */
export type EndReason =
  | 'client_closed' // the client sent Terminate / COM_QUIT
  | 'client_lost' // the client socket closed or errored without saying goodbye
  | 'upstream_lost' // the upstream connection dropped
  | 'upstream_closed' // the upstream ended the session (e.g. FATAL, pg_terminate_backend)
  | 'killed' // an admin ended it (dbtape kill / dashboard)
  | 'protocol_error' // the client broke the protocol and dbtape closed the connection
  | 'proxy_shutdown' // dbtape stopped gracefully
  | 'proxy_crash' // found still open at the next start
  | 'login_failed'; // the login never became a session (an `auth` event says why)

export type LoginFailure = 'credentials' | 'target' | 'upstream' | 'client';

export interface SessionMeta {
  readonly id: SessionId;
  readonly protocol: Protocol;
  /** dbtape identity that authenticated. */
  readonly user: string;
  readonly roles: readonly string[];
  readonly clientAddr: string;
  readonly clientPort: number;
  /** application_name (PostgreSQL) or program_name connect attribute (MySQL). */
  readonly application: string | null;
  /** e.g. 'TLSv1.3', or null for plaintext. */
  readonly clientTls: string | null;
  /** The target name the client asked for. */
  readonly target: string;
  readonly upstreamDatabase: string;
  readonly upstreamUser: string;
  /** Wall-clock start, microseconds since the Unix epoch. */
  readonly startedAtUs: number;
}

/** Column of a result as the client saw it. */
export interface ResultColumn {
  readonly name: string;
  /** Protocol-specific type name or numeric id rendered as text (e.g. 'int4', 'VARCHAR'). */
  readonly type: string;
}

/** Fields every event carries; `seq` and timing are assigned by the recorder. */
export interface EventBase {
  /** 1-based, dense within a session. */
  readonly seq: number;
  /** Wall-clock time, microseconds since the Unix epoch. */
  readonly atUs: number;
  /** Microseconds since the session started (monotonic clock). */
  readonly offsetUs: number;
}

/**
 * Everything a session records, as a discriminated union on `kind`.
 * Text fields hold what the server received, after secret redaction.
 */
export type SessionEventBody =
  | {
      readonly kind: 'start';
      readonly meta: SessionMeta;
    }
  | {
      readonly kind: 'query';
      /** Statement text (simple query, Parse text, COM_QUERY, COM_STMT_PREPARE text). */
      readonly sql: string;
      /** Bound parameters rendered as text; null for SQL NULL. Absent for simple queries. */
      readonly params?: readonly (string | null)[];
      /** Prepared statement name/id when the statement came from the extended/binary protocol. */
      readonly statement?: string;
      /** How it arrived: simple query, extended (Parse/Bind/Execute), prepared execute (MySQL), function call. */
      readonly via: 'simple' | 'extended' | 'prepared' | 'function_call';
    }
  | {
      readonly kind: 'result';
      /** Command tag (PostgreSQL) or OK/resultset summary (MySQL), e.g. 'SELECT 3', 'INSERT 0 1'. */
      readonly tag: string;
      /** Rows returned (SELECT-like) or affected (DML); null where the protocol says nothing. */
      readonly rows: number | null;
      readonly durationUs: number;
      readonly columns?: readonly ResultColumn[];
      /** First max_rows rows as text when capture_results = rows. */
      readonly rowData?: readonly (readonly (string | null)[])[];
      /** True when rowData holds fewer rows than were returned. */
      readonly truncated?: boolean;
      /**
       * PostgreSQL: this result answers a later Execute of a portal an earlier Execute left
       * suspended (a row limit: pgjdbc's setFetchSize, cursors read in pages), which is no new
       * statement: no `query` event comes before it. `fetched` holds the rows this Execute
       * delivered, `rows` the statement's rows so far (on its last result, all of them), and
       * `rowData` this Execute's share of the statement's first max_rows rows.
       */
      readonly fetched?: number;
      readonly warnings?: number;
    }
  | {
      readonly kind: 'error';
      /** SQLSTATE (PostgreSQL) or SQLSTATE from the ERR packet (MySQL). */
      readonly code: string;
      readonly message: string;
      /** MySQL numeric error code, when there is one. */
      readonly errno?: number;
      readonly severity?: string;
      readonly durationUs?: number;
    }
  | {
      readonly kind: 'tx';
      /**
       * `failed`: an error left the transaction able only to end or roll back to a savepoint
       * (PostgreSQL); `recovered`: a ROLLBACK TO SAVEPOINT brought the failed transaction back, its
       * statements run again. Recordings made before `recovered` existed never show it. `prepared`:
       * PREPARE TRANSACTION ended the session's transaction without committing it; a later COMMIT
       * PREPARED or ROLLBACK PREPARED, from any session, decides its fate (PostgreSQL).
       */
      readonly state: 'begin' | 'commit' | 'rollback' | 'failed' | 'recovered' | 'prepared';
    }
  | {
      readonly kind: 'copy';
      readonly direction: 'in' | 'out';
      readonly bytes: number;
      readonly rows: number | null;
    }
  | {
      readonly kind: 'notice';
      readonly severity: string;
      readonly code: string;
      readonly message: string;
    }
  | {
      readonly kind: 'notification';
      readonly channel: string;
      readonly payload: string;
    }
  | {
      /**
       * The client named itself after login (PostgreSQL: the server reported a new
       * application_name, as after pgjdbc's `SET application_name`); the session's listed
       * application follows the last one.
       */
      readonly kind: 'client';
      readonly application: string;
    }
  | {
      readonly kind: 'command';
      /** Protocol commands that are not statements: COM_PING, COM_INIT_DB, COM_SET_OPTION, cancel... */
      readonly command: string;
      readonly detail?: string;
    }
  | {
      readonly kind: 'denied';
      readonly rule: string;
      readonly sql: string;
      readonly message: string;
    }
  | {
      /**
       * A login that did not become a session: recorded as a session of its own (start, this event,
       * end with `login_failed`), so failed and refused logins are in the audit trail with who,
       * from where and which target.
       */
      readonly kind: 'auth';
      /**
       * `credentials`: wrong password or unknown user (indistinguishable, as for the client);
       * `target`: no such target, or one the user may not use; `upstream`: the target could not
       * be reached or refused dbtape's login; `client`: what the client asked for is refused
       * (TLS required, an unsupported startup option).
       */
      readonly failure: LoginFailure;
      /** SQLSTATE sent to the client (MySQL: the ERR packet's). */
      readonly code: string;
      /** MySQL error number sent to the client. */
      readonly errno?: number;
      /** The message sent to the client. */
      readonly message: string;
    }
  | {
      readonly kind: 'gap';
      /** Events lost because the store failed or the queue overflowed. */
      readonly lost: number;
    }
  | {
      readonly kind: 'end';
      readonly reason: EndReason;
      readonly detail?: string;
    };

export type SessionEvent = EventBase & SessionEventBody;
export type SessionEventKind = SessionEventBody['kind'];
