import type { ResultTags } from './result-tags.js';

/** One client command awaiting its response, in the order the server answers them. */
export interface Pending {
  /** The COM_* byte. */
  readonly command: number;
  /** performance.now() when the command went upstream. */
  readonly sentAt: number;
  /** How the outcome is recorded. */
  readonly record: 'statement' | 'prepare' | 'fetch' | 'command' | 'none';
  /** dbtape's own answer (an ERR), sent to the client when this entry's turn comes. */
  readonly local: Buffer | null;
  /**
   * COM_STMT_PREPARE: the statement text, kept for its executes. A recorded COM_QUERY or execute:
   * its text, which names its results (ResultTags).
   */
  readonly sql: string;
  /** Names this command's results as they are recorded; made at the first (SessionEvents.result). */
  tags: ResultTags | null;
  /** COM_STMT_EXECUTE asked for a cursor. */
  readonly cursor: boolean;
  /**
   * A COM_STMT_EXECUTE sent before the response to its COM_STMT_PREPARE came back (MariaDB's
   * pipelined PREPARE + EXECUTE(-1)): decoded when its own response begins.
   */
  readonly deferred: Buffer | null;
  /** COM_STMT_EXECUTE / COM_STMT_FETCH: the statement id (cursor state for max_rows and masking); else -1. */
  readonly statement: number;
  /** An allowed text that may change sql_mode: the policy learns the new mode from its answer. */
  readonly modeChange: boolean;
  /**
   * A `SHOW WARNINGS` text (or an execute of one prepared), marked when results are shaped: dbtape
   * adds the warning of a result it truncated, and masking masks the Message column.
   */
  readonly showsWarnings: boolean;
  /** dbtape's own command (the read-only switch): its response is not the client's and is dropped. */
  swallow: boolean;
  /**
   * A COM_QUERY the policy read as one plain SELECT, or an execute without a cursor of a statement it
   * read so (or the prepare of one): max_rows may stop it (responses.ts).
   */
  readonly oneSelect: boolean;
}

export function pending(command: number, record: Pending['record'], extra: Partial<Pending> = {}): Pending {
  // Every field written out, in one order: one object shape for every entry (a spread of `extra`
  // cost more than the rest of queueing a command, on the sysbench path).
  return {
    command,
    sentAt: performance.now(),
    record,
    local: extra.local ?? null,
    sql: extra.sql ?? '',
    tags: null,
    cursor: extra.cursor ?? false,
    deferred: extra.deferred ?? null,
    statement: extra.statement ?? -1,
    modeChange: extra.modeChange ?? false,
    showsWarnings: extra.showsWarnings ?? false,
    swallow: extra.swallow ?? false,
    oneSelect: extra.oneSelect ?? false,
  };
}
