/**
 * What a statement does, as far as the policy cares: derived from a real parse tree, free of the
 * statement's literal values unless `literalSensitive` says a value was used, so one classification
 * can serve every statement that differs from it only in constants (see classify-cache.ts).
 */
import type { StatementKind } from '../model/identity.js';

export type { StatementKind } from '../model/identity.js';

export interface TableRef {
  /** Schema (PostgreSQL) or database (MySQL) when the statement names one; lower-case unless quoted. */
  readonly schema: string | null;
  readonly name: string;
}

/** A change of a run-time setting: SET, RESET, set_config(), SET TRANSACTION, SET NAMES. */
export interface SettingChange {
  /** Lower-case name; `*` for RESET ALL / DISCARD ALL; `?` when it cannot be known (computed). */
  readonly name: string;
  /** The new value as text when constant; null for RESET/DEFAULT or a computed value. */
  readonly value: string | null;
  /** `global` (MySQL GLOBAL / PERSIST) changes the server for everyone. */
  readonly scope: 'session' | 'local' | 'global';
}

export type StatementFlag =
  /** SELECT ... FOR UPDATE / FOR SHARE / LOCK IN SHARE MODE: takes row locks. */
  | 'locking'
  /** PostgreSQL LOCK ... IN ACCESS SHARE MODE: only the lock every SELECT takes (pg_dump sends it). */
  | 'access-share-lock'
  /** INSERT/UPDATE/DELETE/MERGE inside a WITH query. */
  | 'dml-in-cte'
  /** COPY ... TO/FROM PROGRAM: runs a program on the database server. */
  | 'copy-program'
  /** COPY ... TO/FROM 'file', LOAD DATA INFILE (not LOCAL), LOAD_FILE: server files. */
  | 'server-file-read'
  /** COPY ... TO 'file', SELECT ... INTO OUTFILE/DUMPFILE. */
  | 'server-file-write'
  /** COPY FROM STDIN / LOAD DATA LOCAL: rows from the client. */
  | 'client-data-in'
  /** BEGIN / START TRANSACTION READ WRITE. */
  | 'read-write-transaction'
  /** PREPARE TRANSACTION, COMMIT/ROLLBACK PREPARED, XA: two-phase commit. */
  | 'two-phase'
  /** EXPLAIN ANALYZE / MariaDB ANALYZE <stmt>: the statement is executed. */
  | 'explain-analyze'
  /** SELECT ... INTO new_table (PostgreSQL): creates a table. */
  | 'select-into'
  /** The body cannot be analysed: DO, CALL, PREPARE FROM @var. */
  | 'opaque'
  /** Recognised by its keywords only: which tables it touches is not known. */
  | 'tables-unknown';

export interface StatementInfo {
  readonly kind: StatementKind;
  /** Lower-case command word (`select`, `drop`, `truncate`, `vacuum`, ...), for deny_kinds and messages. */
  readonly command: string;
  /** Tables read (FROM, JOIN, subqueries, USING, COPY TO, ...), CTE names excluded. */
  readonly reads: readonly TableRef[];
  /** Tables written or whose definition changes. */
  readonly writes: readonly TableRef[];
  /** Functions called anywhere in the statement, lower-case, `schema.name` when qualified. */
  readonly functions: readonly string[];
  /** UPDATE/DELETE: whether a WHERE clause references a column; null for other statements. */
  readonly hasWhere: boolean | null;
  readonly settings: readonly SettingChange[];
  readonly flags: readonly StatementFlag[];
  /** PREPARE name: the statements it prepares (null: from a variable, cannot be analysed). */
  readonly prepare?: { readonly name: string; readonly body: readonly StatementInfo[] | null };
  /** EXECUTE name (SQL level). */
  readonly execute?: string;
  /** DEALLOCATE name; `*` for DEALLOCATE ALL. */
  readonly deallocate?: string;
  /** MySQL USE db / PostgreSQL none. */
  readonly use?: string;
}

export type Classification =
  | {
      readonly parsed: true;
      readonly statements: readonly StatementInfo[];
      /** A literal's value decided part of the result, so it is valid for this exact text only. */
      readonly literalSensitive: boolean;
    }
  | { readonly parsed: false; readonly reason: string };
