import { type Decision, POLICY_DENIED, type PolicyEngine, type PolicySession } from '../../policy/index.js';

/**
 * The statement policy (docs/policy.md) as the MySQL command handler asks it: one PolicySession per
 * client connection, plus the protocol commands that act like statements, turned into the SQL they
 * stand for so that the same rules judge them (COM_INIT_DB is `USE`, COM_FIELD_LIST is
 * `SHOW COLUMNS`, COM_REFRESH is `FLUSH` / `RESET`). KILL is judged by dbtape's kill rules instead. Only sessions whose
 * engine has a restriction get a gate at all.
 */

export type Denied = Extract<Decision, { allow: false }>;

/** COM_REFRESH sub-commands that reset replication (MySQL "COM_REFRESH": REFRESH_SLAVE, REFRESH_MASTER). */
const REFRESH_REPLICATION = 0x40 | 0x80;

export class PolicyGate {
  private session: PolicySession;
  /** NO_BACKSLASH_ESCAPES as the server last reported it (status flag 0x0200). */
  private serverNoBackslash = false;
  /** Allowed texts that may change sql_mode, sent but not yet answered. */
  private modeChanges = 0;

  constructor(private readonly engine: PolicyEngine) {
    this.session = engine.openSession();
  }

  query(sql: string): Decision {
    return this.session.decide(sql);
  }

  /** The text last decided was one plain SELECT (see PolicySession.lastWasOneSelect). */
  get lastWasOneSelect(): boolean {
    return this.session.lastWasOneSelect;
  }

  /**
   * COM_STMT_PREPARE. Protocol-level statements are named by ids SQL cannot use, so no name is
   * registered: SQL EXECUTE can only run what SQL PREPARE made.
   */
  prepare(sql: string): Decision {
    return this.session.decidePrepare(sql);
  }

  initDb(schema: string): Decision {
    return this.session.decide(`USE ${quoteIdent(schema)}`);
  }

  fieldList(table: string): Decision {
    return this.session.decide(`SHOW COLUMNS FROM ${quoteIdent(table)}`);
  }

  refresh(flags: number): Decision {
    const d = this.session.decide('FLUSH TABLES');
    if (!d.allow || (flags & REFRESH_REPLICATION) === 0) return d;
    return this.session.decide('RESET MASTER');
  }

  /** A command with no SQL equivalent: what cannot be analysed is denied under any restriction. */
  opaque(command: string): Denied {
    const why = `${command} cannot be checked`;
    return {
      allow: false,
      code: POLICY_DENIED,
      rule: 'fail_closed',
      message: `dbtape: denied by rule fail_closed: ${why}`,
      statementIndex: 0,
    };
  }

  /** COM_RESET_CONNECTION drops the server's prepared statements: so does the policy. */
  reset(): void {
    const nbe = this.session.noBackslashEscapes;
    this.session = this.engine.openSession();
    this.session.noBackslashEscapes = nbe;
  }

  /**
   * An allowed text that may change sql_mode went upstream: until its answer says what the mode is,
   * backslashes are treated as under NO_BACKSLASH_ESCAPES (fail closed), since pipelined texts are
   * decided before that answer arrives.
   */
  modeChangeSent(): void {
    this.modeChanges++;
    this.session.noBackslashEscapes = true;
  }

  modeChangeAnswered(): void {
    if (this.modeChanges > 0) this.modeChanges--;
    this.session.noBackslashEscapes = this.serverNoBackslash || this.modeChanges > 0;
  }

  /** Status flags of an OK/EOF from the server. */
  serverStatus(noBackslashEscapes: boolean): void {
    this.serverNoBackslash = noBackslashEscapes;
    this.session.noBackslashEscapes = noBackslashEscapes || this.modeChanges > 0;
  }
}

/** May this text change sql_mode (directly, or through SET STATEMENT / executable comments)? */
export function mayChangeSqlMode(sql: string): boolean {
  return /sql_mode/i.test(sql);
}

function quoteIdent(name: string): string {
  return `\`${name.replace(/`/g, '``')}\``;
}
