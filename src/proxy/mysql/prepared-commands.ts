import {
  COM_STMT_CLOSE,
  COM_STMT_EXECUTE,
  COM_STMT_FETCH,
  COM_STMT_PREPARE,
  COM_STMT_RESET,
  COM_STMT_SEND_LONG_DATA,
  clientText,
  decodeCommand,
  decodeStmtExecute,
  ER_MALFORMED_PACKET,
  ER_NOT_SUPPORTED_YET,
  ER_UNKNOWN_STMT_HANDLER,
  LAST_PREPARED_STATEMENT_ID,
  peekStatementId,
  type ServerError,
} from '../../protocol/mysql/index.js';
import type { CommandOptions } from './commands.js';
import { hiddenKill, mayBeKill, parseKill, UNMAPPABLE_KILL } from './kill-statement.js';
import { type Pending, pending } from './pending.js';
import type { Denied } from './policy-gate.js';
import { ResultTags } from './result-tags.js';
import { isShowWarnings } from './show-warnings.js';

/**
 * The binary protocol's commands (MySQL "Prepared Statements"; MariaDB "Binary protocol"):
 * PREPARE remembered with its text, EXECUTE recorded with its parameters decoded per type
 * (later, when pipelined behind its PREPARE), SEND_LONG_DATA kept for the next execute,
 * CLOSE / RESET / FETCH tracked. An execute naming no known statement, or too malformed to
 * read, is answered by dbtape and never forwarded.
 */

export type Refuse = (e: ServerError, message: string, respSeq: number, command: number) => void;
export type Deny = (sql: string, d: Denied, respSeq: number) => void;

/** Values longer than this are cut in recorded parameters. */
const MAX_PARAM_BYTES = 64 * 1024;

/** command, statement id, flags, iteration count: a COM_STMT_EXECUTE with nothing after them. */
const EXECUTE_HEADER_BYTES = 10;

export class PreparedCommands {
  /**
   * The policy denied the last COM_STMT_PREPARE: the server's "last prepared statement" (id -1, which
   * MariaDB clients pipeline right behind a prepare) is then not the one the client means.
   */
  private lastPrepareDenied = false;

  constructor(
    private readonly o: CommandOptions,
    private readonly refuse: Refuse,
    private readonly deny: Deny,
  ) {}

  handle(payload: Buffer, forward: () => void, respSeq: number): void {
    const code = payload[0];
    if (code !== COM_STMT_PREPARE && this.lastPrepareDenied && this.namesDenied(payload, respSeq)) return;
    switch (code) {
      case COM_STMT_PREPARE: {
        const kill = mayBeKill(payload);
        const sql =
          this.o.observe || this.o.policy !== null || kill
            ? clientText(payload.subarray(1), this.o.latin1Client)
            : '';
        if (kill && (parseKill(sql) !== null || hiddenKill(sql))) {
          // A prepared KILL would reach the server with a raw thread id (its id may even be a
          // parameter): refused like the KILL forms dbtape cannot map; so are executes of "the last
          // prepared statement", which the server would take to be an earlier one.
          this.lastPrepareDenied = true;
          this.o.events.statement(sql, 'prepared');
          this.refuse(ER_NOT_SUPPORTED_YET, UNMAPPABLE_KILL, respSeq, COM_STMT_PREPARE);
          return;
        }
        let oneSelect = false;
        if (this.o.policy !== null) {
          const d = this.o.policy.prepare(sql);
          this.lastPrepareDenied = !d.allow;
          if (!d.allow) {
            this.deny(sql, d, respSeq);
            return;
          }
          oneSelect = this.o.policy.lastWasOneSelect;
        }
        forward();
        const showsWarnings = this.o.shaper !== null && isShowWarnings(payload);
        this.o.responses.enqueue(
          pending(code, 'prepare', { sql: this.o.observe ? sql : '', showsWarnings, oneSelect }),
        );
        return;
      }
      case COM_STMT_EXECUTE:
        this.execute(payload, forward, respSeq);
        return;
      case COM_STMT_SEND_LONG_DATA:
        this.longData(payload);
        forward();
        return;
      case COM_STMT_CLOSE: {
        const id = peekStatementId(payload);
        if (id !== null) {
          this.o.statements.delete(id);
          this.o.shaper?.forgetStatement(id);
        }
        forward();
        return;
      }
      case COM_STMT_RESET:
        this.o.statements.get(peekStatementId(payload) ?? -1)?.clearLongData();
        forward();
        this.o.responses.enqueue(pending(code, 'none'));
        return;
      case COM_STMT_FETCH:
        forward();
        this.o.responses.enqueue(pending(code, 'fetch', { statement: peekStatementId(payload) ?? -1 }));
        return;
    }
  }

  /**
   * A command naming id -1 right after a denied prepare: answered as the server answers an unknown
   * statement (CLOSE and SEND_LONG_DATA have no answer and are dropped). True when handled.
   */
  private namesDenied(payload: Buffer, respSeq: number): boolean {
    if (peekStatementId(payload) !== LAST_PREPARED_STATEMENT_ID) return false;
    const code = payload[0];
    if (code === COM_STMT_EXECUTE || code === COM_STMT_RESET || code === COM_STMT_FETCH) {
      this.refuse(
        ER_UNKNOWN_STMT_HANDLER,
        'Unknown prepared statement handler (-1): its prepare was denied by dbtape',
        respSeq,
        code,
      );
    }
    return true;
  }

  /** A PREPARE, EXECUTE or SEND_LONG_DATA too big to hold went through; `head` is its start. */
  streamed(code: number, head: Buffer, total: number, note: string): void {
    switch (code) {
      case COM_STMT_PREPARE:
        this.o.responses.enqueue(
          pending(code, 'prepare', {
            sql: this.o.observe ? `${clientText(head.subarray(1), this.o.latin1Client)}${note}` : '',
          }),
        );
        return;
      case COM_STMT_EXECUTE: {
        const stmt = this.o.statements.get(peekStatementId(head) ?? -1);
        stmt?.clearLongData();
        if (this.o.observe)
          this.o.events.statement(
            stmt?.sql ?? '',
            'prepared',
            [`[dbtape: parameters not recorded: ${total} bytes]`],
            stmt ? String(stmt.id) : undefined,
          );
        this.o.responses.enqueue(
          pending(code, 'statement', { sql: stmt?.sql ?? '', cursor: head.length > 5 && head[5] !== 0 }),
        );
        return;
      }
      case COM_STMT_SEND_LONG_DATA:
        this.longData(head, total);
        return;
    }
  }

  private execute(payload: Buffer, forward: () => void, respSeq: number): void {
    const cursor = payload.length > 5 && payload[5] !== 0;
    const id = peekStatementId(payload);
    if (id === null) {
      this.refuse(
        ER_MALFORMED_PACKET,
        'dbtape: malformed COM_STMT_EXECUTE: packet too short',
        respSeq,
        COM_STMT_EXECUTE,
      );
      return;
    }
    const stmt = this.o.statements.get(id);
    const waiting = this.o.responses.preparesInFlight > 0;
    if (stmt === undefined && !waiting) {
      const shown = id === LAST_PREPARED_STATEMENT_ID ? '-1' : String(id);
      this.refuse(
        ER_UNKNOWN_STMT_HANDLER,
        `Unknown prepared statement handler (${shown}) given to mysqld_stmt_execute`,
        respSeq,
        COM_STMT_EXECUTE,
      );
      return;
    }
    const showsWarnings = this.o.shaper?.showsWarnings(id) === true;
    // An execute of one plain SELECT without a cursor may be stopped at max_rows, as a COM_QUERY is.
    const oneSelect = !cursor && this.o.shaper?.selects(id) === true;
    if (!this.o.observe) {
      forward();
      this.o.responses.enqueue(
        pending(COM_STMT_EXECUTE, 'statement', { cursor, statement: id, showsWarnings, oneSelect }),
      );
      return;
    }
    if (stmt === undefined || (waiting && id === LAST_PREPARED_STATEMENT_ID)) {
      forward();
      this.o.responses.enqueue(
        pending(COM_STMT_EXECUTE, 'statement', {
          cursor,
          statement: id,
          deferred: Buffer.from(payload),
          oneSelect,
        }),
      );
      return;
    }
    if (stmt.paramCount > 0 && payload.length === EXECUTE_HEADER_BYTES) {
      // No parameter block at all (mysql2's execute(sql, []) on a statement with placeholders):
      // the server answers it as it would directly (1210, Incorrect arguments), the session goes on.
      this.o.events.statement(stmt.sql, 'prepared', [], String(stmt.id));
      forward();
      this.o.responses.enqueue(
        pending(COM_STMT_EXECUTE, 'statement', { sql: stmt.sql, cursor, statement: id, oneSelect }),
      );
      return;
    }
    const d = decodeStmtExecute(payload, stmt, {
      capabilities: this.o.capabilities,
      maxValueBytes: MAX_PARAM_BYTES,
    });
    if (!d.ok && d.error.code === 'DBTAPE_MYSQL_UNSUPPORTED') {
      // A value type dbtape cannot render is no reason to stop the statement.
      this.o.events.statement(
        stmt.sql,
        'prepared',
        [`[dbtape: parameters not decoded: ${d.error.message}]`],
        String(stmt.id),
      );
      forward();
      this.o.responses.enqueue(
        pending(COM_STMT_EXECUTE, 'statement', { sql: stmt.sql, cursor, statement: id, oneSelect }),
      );
      return;
    }
    if (!d.ok) {
      this.o.events.statement(stmt.sql, 'prepared', [], String(stmt.id));
      this.refuse(
        ER_MALFORMED_PACKET,
        `dbtape: malformed COM_STMT_EXECUTE: ${d.error.message.replace(/^dbtape: /, '')}`,
        respSeq,
        COM_STMT_EXECUTE,
      );
      return;
    }
    this.o.events.statement(stmt.sql, 'prepared', d.value.params, String(stmt.id));
    forward();
    this.o.responses.enqueue(
      pending(COM_STMT_EXECUTE, 'statement', {
        sql: stmt.sql,
        cursor,
        statement: id,
        showsWarnings,
        oneSelect,
      }),
    );
  }

  /** `total`: the command's size when `payload` is only its start (streamed through). */
  private longData(payload: Buffer, total = payload.length): void {
    if (!this.o.observe) return;
    const cmd = decodeCommand(payload, { capabilities: this.o.capabilities });
    if (!cmd.ok || cmd.value.name !== 'COM_STMT_SEND_LONG_DATA') return;
    const { data } = cmd.value;
    const size = total - (payload.length - data.length);
    this.o.statements.get(cmd.value.statementId)?.addLongData(cmd.value.paramId, data, size);
  }

  /** Decode a pipelined execute once its statement's prepare has been answered. */
  decodeDeferred(p: Pending): void {
    const payload = p.deferred!;
    const stmt = this.o.statements.get(peekStatementId(payload) ?? -1);
    if (!stmt) {
      this.o.events.statement('', 'prepared', [], String(peekStatementId(payload)));
      return;
    }
    const d = decodeStmtExecute(payload, stmt, {
      capabilities: this.o.capabilities,
      maxValueBytes: MAX_PARAM_BYTES,
    });
    this.o.events.statement(stmt.sql, 'prepared', d.ok ? d.value.params : [], String(stmt.id));
    // Its text was not known when it was queued.
    p.tags = new ResultTags(stmt.sql);
  }
}
