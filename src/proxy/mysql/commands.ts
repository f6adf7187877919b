import {
  type ClientCommand,
  COM_CHANGE_USER,
  COM_DEBUG,
  COM_FIELD_LIST,
  COM_INIT_DB,
  COM_PING,
  COM_PROCESS_INFO,
  COM_PROCESS_KILL,
  COM_QUERY,
  COM_QUIT,
  COM_REFRESH,
  COM_RESET_CONNECTION,
  COM_SET_OPTION,
  COM_STATISTICS,
  COM_STMT_CLOSE,
  COM_STMT_EXECUTE,
  COM_STMT_FETCH,
  COM_STMT_PREPARE,
  COM_STMT_RESET,
  COM_STMT_SEND_LONG_DATA,
  clientText,
  commandName,
  decodeCommand,
  ER_BAD_DB_ERROR,
  ER_MALFORMED_PACKET,
  ER_NO_SUCH_THREAD,
  ER_NOT_SUPPORTED_YET,
  ER_TABLEACCESS_DENIED_ERROR,
  ER_UNKNOWN_COM_ERROR,
  PACKET_HEADER_SIZE,
  type ServerError,
  type StatementRegistry,
} from '../../protocol/mysql/index.js';
import { errPacket } from './errors.js';
import { hiddenKill, killText, mayBeKill, parseKill, UNMAPPABLE_KILL } from './kill-statement.js';
import { type Pending, pending } from './pending.js';
import { type Denied, mayChangeSqlMode, type PolicyGate } from './policy-gate.js';
import type { ResultShaper } from './policy-results.js';
import { PreparedCommands } from './prepared-commands.js';
import type { ResponseStream } from './responses.js';
import { frame } from './segments.js';
import type { SessionEvents } from './session-events.js';
import { isShowWarnings } from './show-warnings.js';

/**
 * What dbtape does with each client command (MySQL "Command Phase"): forward it as it came
 * (nearly always), record it, and queue what its response will be. The few commands dbtape
 * changes or answers itself: KILL (the connection id is mapped to the upstream's),
 * COM_CHANGE_USER (refused: it would switch identity behind the proxy's back), commands it
 * does not carry (refused like a server refuses an unknown command), and malformed prepared
 * statement executes.
 */

export interface CommandOptions {
  readonly capabilities: number;
  /** The client's handshake chose a latin1 collation: how its non-UTF-8 text is read (clientText). */
  readonly latin1Client: boolean;
  /** Decode statements and parameters for the recording (false: nothing is recorded). */
  readonly observe: boolean;
  readonly events: SessionEvents;
  readonly statements: StatementRegistry;
  readonly responses: ResponseStream;
  /** Send bytes upstream, in order with forwarded ones. */
  readonly toUpstream: (bytes: Buffer) => void;
  /** Send bytes [start, end) of the client chunk being read upstream, in order with the rest. */
  readonly toUpstreamRange: (start: number, end: number) => void;
  /** The upstream thread id a KILL [QUERY] of dbtape connection `id` may name, or null. */
  readonly resolveKill: (id: number, query: boolean) => number | null;
  /** The statement policy; null when the session's roles need no checks (nothing is parsed). */
  readonly policy: PolicyGate | null;
  /** max_rows / masking state (cursors are forgotten on COM_STMT_CLOSE). */
  readonly shaper: ResultShaper | null;
  /** A `read` grant: the upstream session is kept in read-only transaction mode (readOnlyUpstream). */
  readonly readOnly: boolean;
  /**
   * The session's target name and its upstream database, when they differ: a COM_INIT_DB naming the
   * target (`use shop`, mariadb-dump's database argument) is refused with the name to use.
   */
  readonly targetDatabase: { readonly name: string; readonly database: string } | null;
}

/**
 * The upstream's own guard for `read` sessions, as `default_transaction_read_only` is for
 * PostgreSQL: every later transaction (autocommit statements included) is read-only, so a write no
 * parse tree shows (a stored function that inserts) fails with ERROR 1792. The policy denies
 * turning it off (`SET SESSION TRANSACTION READ WRITE`, `transaction_read_only`, `tx_read_only`,
 * `START TRANSACTION READ WRITE`).
 */
const READ_ONLY = Buffer.from([COM_QUERY, ...Buffer.from('SET SESSION TRANSACTION READ ONLY')]);

/** Commands forwarded with a 'command' event (their outcome matters only when it is an error). */
const PLAIN_COMMANDS = new Set([
  COM_INIT_DB,
  COM_PING,
  COM_SET_OPTION,
  COM_FIELD_LIST,
  COM_STATISTICS,
  COM_RESET_CONNECTION,
  COM_PROCESS_INFO,
  COM_DEBUG,
  COM_REFRESH,
]);

/** Commands that may be sent as packets too big to hold (their data is streamed through). */
export const STREAMABLE = new Set([COM_QUERY, COM_STMT_PREPARE, COM_STMT_EXECUTE, COM_STMT_SEND_LONG_DATA]);

export class CommandHandler {
  /** The client sent COM_QUIT. */
  quit = false;

  private readonly prepared: PreparedCommands;
  /** The command `handle` is deciding on, for `forward`. */
  private payload: Buffer = Buffer.alloc(0);
  private rawStart = -1;
  /**
   * Sends the current command on: as the bytes it came in when it came in one piece, else
   * re-framed. One function for the session rather than a closure per command.
   */
  private readonly forward = (): void => {
    if (this.rawStart >= 0)
      this.o.toUpstreamRange(this.rawStart, this.rawStart + PACKET_HEADER_SIZE + this.payload.length);
    else this.o.toUpstream(frame(this.payload, 0));
  };

  constructor(private readonly o: CommandOptions) {
    this.prepared = new PreparedCommands(
      o,
      (e, message, respSeq, command) => this.refuse(e, message, respSeq, command),
      (sql, d, respSeq) => this.deny(sql, d, respSeq, COM_STMT_PREPARE),
    );
  }

  /**
   * For a `read` grant, puts the upstream session in read-only transaction mode: dbtape's own
   * command, sent ahead of whatever the client sends next (the server answers in order) and its
   * answer dropped. Not recorded: the client did not send it.
   */
  readOnlyUpstream(): void {
    if (!this.o.readOnly) return;
    this.o.toUpstream(frame(READ_ONLY, 0));
    this.o.responses.enqueue(pending(COM_QUERY, 'none', { swallow: true }));
  }

  /** Decode a pipelined execute once its statement's prepare has been answered. */
  decodeDeferred(p: Pending): void {
    this.prepared.decodeDeferred(p);
  }

  /**
   * A whole command. `rawStart` is the offset of its packet (header included) in the client chunk
   * being read when it arrived in one piece, else -1 (it is re-framed). `respSeq` is the sequence
   * id a response starts at.
   */
  handle(payload: Buffer, rawStart: number, respSeq: number): void {
    const code = payload[0];
    this.payload = payload;
    this.rawStart = rawStart;
    const forward = this.forward;
    switch (code) {
      case COM_QUERY:
        this.query(payload, forward, respSeq);
        return;
      case COM_STMT_PREPARE:
      case COM_STMT_EXECUTE:
      case COM_STMT_SEND_LONG_DATA:
      case COM_STMT_CLOSE:
      case COM_STMT_RESET:
      case COM_STMT_FETCH:
        this.prepared.handle(payload, forward, respSeq);
        return;
      case COM_PROCESS_KILL:
        this.processKill(payload, respSeq);
        return;
      case COM_CHANGE_USER:
        this.changeUser(payload, respSeq);
        return;
      case COM_QUIT:
        this.quit = true;
        forward();
        return;
      default:
        if (PLAIN_COMMANDS.has(code)) {
          if (code === COM_INIT_DB && this.namesTarget(payload, respSeq)) return;
          if (this.o.policy !== null && !this.allowedCommand(payload, respSeq)) return;
          this.plain(payload);
          if (code === COM_RESET_CONNECTION) this.o.statements.clear();
          forward();
          this.o.responses.enqueue(pending(code, 'command'));
          // The reset puts the session's transaction mode back to the server's default.
          if (code === COM_RESET_CONNECTION) this.readOnlyUpstream();
          return;
        }
        this.unsupported(code, respSeq);
    }
  }

  /** A command too big to hold, streamed through; `head` holds its first bytes (copied). */
  streamed(code: number, head: Buffer, total: number): void {
    const note = `... [dbtape: truncated, ${total} bytes]`;
    switch (code) {
      case COM_QUERY: {
        const sql = this.o.observe ? `${clientText(head.subarray(1), this.o.latin1Client)}${note}` : '';
        if (this.o.observe) this.o.events.statement(sql, 'simple');
        this.o.responses.enqueue(pending(code, 'statement', { sql }));
        return;
      }
      default:
        this.prepared.streamed(code, head, total, note);
    }
  }

  /** A command refused before it was read whole (too big and not one that carries data). */
  refuseStreamed(code: number, respSeq: number): void {
    this.unsupported(code, respSeq);
  }

  private query(payload: Buffer, forward: () => void, respSeq: number): void {
    const policy = this.o.policy;
    // Only a text holding `kill` (a byte scan) is looked at for KILL forms.
    const killish = mayBeKill(payload);
    // Marked with or without a warning of dbtape's: under masking the server's list is masked too.
    const showsWarnings = this.o.shaper !== null && isShowWarnings(payload);
    if (policy === null && !this.o.observe && !killish) {
      forward();
      this.o.responses.enqueue(pending(COM_QUERY, 'statement', { showsWarnings }));
      return;
    }
    const cmd = decodeCommand(payload, {
      capabilities: this.o.capabilities,
      latin1Client: this.o.latin1Client,
    });
    const sql =
      cmd.ok && cmd.value.name === 'COM_QUERY'
        ? cmd.value.sql
        : clientText(payload.subarray(1), this.o.latin1Client);
    let modeChange = false;
    let oneSelect = false;
    const kill = killish ? parseKill(sql) : null;
    // Checked whatever the capabilities say: COM_SET_OPTION can turn multi-statements on later.
    if (killish && ((kill !== null && kill.kind !== 'kill') || hiddenKill(sql))) {
      this.o.events.statement(sql, 'simple');
      this.refuse(ER_NOT_SUPPORTED_YET, UNMAPPABLE_KILL, respSeq, COM_QUERY);
      return;
    }
    // A mappable KILL names a dbtape connection id, judged by dbtape's kill rules (your own sessions,
    // or admin on the target), not by access levels: a read-only user may stop their own statement.
    if (policy !== null && kill?.kind !== 'kill') {
      // Query attributes the text does not show are not understood: fail closed.
      const d = cmd.ok ? policy.query(sql) : policy.opaque('a malformed COM_QUERY');
      if (!d.allow) {
        this.deny(sql, d, respSeq, COM_QUERY);
        return;
      }
      modeChange = mayChangeSqlMode(sql);
      if (modeChange) policy.modeChangeSent();
      oneSelect = policy.lastWasOneSelect;
    }
    if (!this.o.observe && !killish) {
      forward();
      this.o.responses.enqueue(pending(COM_QUERY, 'statement', { modeChange, showsWarnings, oneSelect }));
      return;
    }
    if (kill?.kind === 'kill') {
      this.mappedKill(sql, kill.id, kill.query, (id) => killText(kill, id), respSeq);
      return;
    }
    this.o.events.statement(sql, 'simple');
    forward();
    this.o.responses.enqueue(pending(COM_QUERY, 'statement', { sql, modeChange, showsWarnings, oneSelect }));
  }

  private processKill(payload: Buffer, respSeq: number): void {
    if (payload.length < 5) {
      this.refuse(ER_MALFORMED_PACKET, 'dbtape: malformed COM_PROCESS_KILL', respSeq, COM_PROCESS_KILL);
      return;
    }
    // Not asked of the policy: dbtape's kill rules (your own sessions, or admin) decide, as for SQL KILL.
    const id = payload.readUInt32LE(1);
    const upstreamId = this.o.resolveKill(id, false);
    this.o.events.command(
      'COM_PROCESS_KILL',
      `connection ${id}${upstreamId === null ? '' : ` (upstream thread ${upstreamId})`}`,
    );
    if (upstreamId === null) {
      this.refuse(ER_NO_SUCH_THREAD, `Unknown thread id: ${id}`, respSeq, COM_PROCESS_KILL);
      return;
    }
    const rewritten = Buffer.alloc(5);
    rewritten[0] = COM_PROCESS_KILL;
    rewritten.writeUInt32LE(upstreamId, 1);
    this.o.toUpstream(frame(rewritten, 0));
    this.o.responses.enqueue(pending(COM_PROCESS_KILL, 'command'));
  }

  /** KILL [QUERY] <dbtape id> as SQL: sent upstream naming the server's thread id instead. */
  private mappedKill(
    sql: string,
    id: number,
    query: boolean,
    text: (upstreamId: number) => string,
    respSeq: number,
  ): void {
    const upstreamId = this.o.resolveKill(id, query);
    if (upstreamId === null) {
      this.o.events.statement(sql, 'simple');
      this.refuse(ER_NO_SUCH_THREAD, `Unknown thread id: ${id}`, respSeq, COM_QUERY);
      return;
    }
    const rewritten = text(upstreamId);
    this.o.events.command('KILL', `dbtape connection ${id} is upstream thread ${upstreamId}`);
    this.o.events.statement(rewritten, 'simple');
    this.o.toUpstream(frame(Buffer.concat([Buffer.from([COM_QUERY]), Buffer.from(rewritten)]), 0));
    this.o.responses.enqueue(pending(COM_QUERY, 'statement', { sql: rewritten }));
  }

  private changeUser(payload: Buffer, respSeq: number): void {
    const cmd = decodeCommand(payload, { capabilities: this.o.capabilities });
    const user = cmd.ok && cmd.value.name === 'COM_CHANGE_USER' ? cmd.value.username : null;
    this.o.events.command('COM_CHANGE_USER', `refused${user ? ` (user ${JSON.stringify(user)})` : ''}`);
    this.refuse(
      ER_NOT_SUPPORTED_YET,
      'dbtape: COM_CHANGE_USER is not supported: it would switch identity behind the proxy; connect again as the other user',
      respSeq,
      COM_CHANGE_USER,
    );
  }

  private unsupported(code: number, respSeq: number): void {
    const name = commandName(code);
    this.o.events.command(name, 'refused');
    const known = !name.startsWith('COM_0x');
    this.refuse(
      ER_UNKNOWN_COM_ERROR,
      known
        ? `dbtape: ${name} is not supported through dbtape`
        : `dbtape: unknown command 0x${code.toString(16).padStart(2, '0')}`,
      respSeq,
      code,
    );
  }

  /**
   * A COM_INIT_DB naming the session's target where the target's database upstream has another
   * name (`use shop`; mariadb-dump logs in without a database, then selects its argument). Renaming
   * it would make the dump look whole while it is not: mariadb-dump also names the database in SQL
   * (`information_schema.views WHERE table_schema = 'shop'`, `SHOW PROCEDURE STATUS WHERE Db =
   * 'shop'`), which the server answers with nothing, so views fail and routines and events are
   * silently left out. So the command is refused with the name that works, and recorded.
   */
  private namesTarget(payload: Buffer, respSeq: number): boolean {
    const t = this.o.targetDatabase;
    if (t === null || payload.toString('utf8', 1) !== t.name) return false;
    this.plain(payload);
    this.refuse(
      ER_BAD_DB_ERROR,
      `dbtape: Unknown database '${t.name}': target ${t.name} is database '${t.database}' on the server; ` +
        `name that (tools such as mariadb-dump also use the name in SQL)`,
      respSeq,
      COM_INIT_DB,
    );
    return true;
  }

  private plain(payload: Buffer): void {
    if (!this.o.events.active) return;
    const cmd = decodeCommand(payload, { capabilities: this.o.capabilities });
    this.o.events.command(commandName(payload[0]), cmd.ok ? detailOf(cmd.value) : undefined);
  }

  /**
   * The policy's word on a protocol command that acts like a statement (COM_INIT_DB is `USE`...).
   * False when it was denied and answered.
   */
  private allowedCommand(payload: Buffer, respSeq: number): boolean {
    const policy = this.o.policy!;
    const code = payload[0];
    if (code === COM_RESET_CONNECTION) policy.reset();
    if (code !== COM_INIT_DB && code !== COM_FIELD_LIST && code !== COM_REFRESH && code !== COM_DEBUG)
      return true;
    const cmd = decodeCommand(payload, { capabilities: this.o.capabilities });
    const name = commandName(code);
    let d: ReturnType<PolicyGate['query']>;
    let shown = name;
    if (!cmd.ok || code === COM_DEBUG) d = policy.opaque(name);
    else if (cmd.value.name === 'COM_INIT_DB') {
      d = policy.initDb(cmd.value.schema);
      shown = `${name} ${cmd.value.schema}`;
    } else if (cmd.value.name === 'COM_FIELD_LIST') {
      d = policy.fieldList(cmd.value.table);
      shown = `${name} ${cmd.value.table}`;
    } else d = policy.refresh(payload.length > 1 ? payload[1] : 0);
    if (d.allow) return true;
    this.deny(shown, d, respSeq, code);
    return false;
  }

  /** A denial by the access policy: ERR 1142 in turn, nothing sent upstream, a `denied` event. */
  deny(sql: string, d: Denied, respSeq: number, command: number): void {
    this.o.events.denied(d.rule, sql, d.message);
    this.o.responses.enqueue(
      pending(command, 'none', { local: errPacket(ER_TABLEACCESS_DENIED_ERROR, d.message, respSeq) }),
    );
  }

  /** Answer in the server's place, in turn with responses still to come. */
  refuse(e: ServerError, message: string, respSeq: number, command: number): void {
    this.o.events.refusal(e.errno, e.sqlState, message);
    this.o.responses.enqueue(pending(command, 'none', { local: errPacket(e, message, respSeq) }));
  }
}

function detailOf(c: ClientCommand): string | undefined {
  switch (c.name) {
    case 'COM_INIT_DB':
      return c.schema;
    case 'COM_FIELD_LIST':
      return c.wildcard ? `${c.table} ${c.wildcard}` : c.table;
    case 'COM_SET_OPTION':
      return c.option === 0
        ? 'MULTI_STATEMENTS_ON'
        : c.option === 1
          ? 'MULTI_STATEMENTS_OFF'
          : String(c.option);
    default:
      return undefined;
  }
}
