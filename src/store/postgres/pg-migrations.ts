/**
 * Numbered schema migrations for the PostgreSQL store, applied in order inside one transaction
 * under an advisory lock at open (pg-connect.ts). Never edit a released migration: add the next
 * number. The tables mirror the SQLite store's (store/sqlite/migrations.ts, at its version 5)
 * with PostgreSQL types; what differs, and why:
 * - events carry their search index themselves (`search`, a tsvector with a GIN index): it holds
 *   words (or blind-index tokens), not the text, which stays once, in `body`, as in SQLite's
 *   contentless FTS5 table;
 * - `body` is bytea for both formats (format 1: the v1 JSON's UTF-8 bytes);
 * - no strict-mode journal: a commit with synchronous_commit on is durable by itself;
 * - session ids sort bytewise (COLLATE "C"), as SQLite compares them, whatever the database's collation;
 * - no foreign keys, as SQLite does not enforce its own: verify is what reports events left
 *   from a deleted session, and a foreign key check per event row would cost every write;
 * - the dashboard's API tokens have a table (migration 2), where the SQLite store keeps them in a
 *   file beside it: a PostgreSQL store often serves a dbtape with no lasting files of its own.
 */
export interface PgMigration {
  readonly version: number;
  readonly name: string;
  readonly sql: string;
}

export const PG_MIGRATIONS: readonly PgMigration[] = [
  {
    version: 1,
    name: 'sessions, events with their search index, hash chain, seals, checkpoints, keys',
    sql: `
      CREATE TABLE sessions (
        sid bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
        id text COLLATE "C" NOT NULL UNIQUE,
        protocol text NOT NULL,
        user_name text NOT NULL,
        roles text NOT NULL,
        client_addr text NOT NULL,
        client_port integer NOT NULL,
        application text,
        client_tls text,
        target text NOT NULL,
        upstream_database text NOT NULL,
        upstream_user text NOT NULL,
        started_at_us bigint NOT NULL,
        ended_at_us bigint,
        end_reason text,
        statements bigint NOT NULL DEFAULT 0,
        errors bigint NOT NULL DEFAULT 0,
        events bigint NOT NULL DEFAULT 0,
        last_seq bigint NOT NULL DEFAULT 0,
        reported_application text,
        head_hash bytea,
        seal bytea,
        seal_no bigint
      );
      CREATE INDEX sessions_started ON sessions (started_at_us, id);
      CREATE INDEX sessions_user ON sessions (user_name, started_at_us);
      CREATE INDEX sessions_target ON sessions (target, started_at_us);
      CREATE INDEX sessions_open ON sessions (started_at_us) WHERE ended_at_us IS NULL;
      CREATE UNIQUE INDEX sessions_seal_no ON sessions (seal_no) WHERE seal_no IS NOT NULL;

      -- body: the event in recording format v1 (format 1, UTF-8) or its AES-256-GCM envelope
      -- (format 2). failed: for query events, once the outcome is known. hash: integrity/chain.ts.
      -- search: the words of statement text and parameters ('simple', no stemming), or their
      -- blind-index tokens for encrypted sessions; NULL for events that are not statements.
      CREATE TABLE events (
        session_sid bigint NOT NULL,
        seq bigint NOT NULL,
        at_us bigint NOT NULL,
        offset_us bigint NOT NULL,
        kind text NOT NULL,
        failed boolean,
        format smallint NOT NULL,
        body bytea NOT NULL,
        hash bytea,
        search tsvector,
        PRIMARY KEY (session_sid, seq)
      );
      CREATE INDEX events_search ON events USING gin (search);

      -- One row: the store's head (see the SQLite store's migration 2).
      CREATE TABLE integrity_state (
        id integer PRIMARY KEY CHECK (id = 1),
        chain_from_sid bigint NOT NULL,
        seal_no bigint NOT NULL DEFAULT 0,
        seal bytea,
        checkpoint_no bigint NOT NULL DEFAULT 0,
        checkpoint_hash bytea,
        encrypted boolean NOT NULL DEFAULT false
      );
      INSERT INTO integrity_state (id, chain_from_sid) VALUES (1, 1);

      CREATE TABLE checkpoints (
        no bigint PRIMARY KEY,
        at_us bigint NOT NULL,
        key_id text NOT NULL,
        body text NOT NULL,
        hash bytea NOT NULL,
        signature bytea NOT NULL
      );
      CREATE TABLE signing_keys (
        key_id text PRIMARY KEY,
        public_key bytea NOT NULL,
        added_at_us bigint NOT NULL
      );
      CREATE TABLE session_keys (
        session_sid bigint PRIMARY KEY,
        key_version integer NOT NULL,
        wrapped bytea NOT NULL,
        fingerprint bytea NOT NULL
      );
      CREATE TABLE store_keys (
        name text PRIMARY KEY,
        key_version integer NOT NULL,
        wrapped bytea NOT NULL
      );
    `,
  },
  {
    version: 2,
    name: 'api_tokens: the dashboard API tokens, as hashes',
    sql: `
      -- web/auth/api-tokens.ts: never a token itself, only its SHA-256 (base64url). When each was
      -- last used stays in memory, as it does with the SQLite store's token file. added: the
      -- order they were created in (two may share a millisecond), which the file keeps too.
      CREATE TABLE api_tokens (
        id text COLLATE "C" PRIMARY KEY,
        added bigint GENERATED ALWAYS AS IDENTITY,
        name text NOT NULL,
        user_name text NOT NULL,
        created_by text NOT NULL,
        created_at timestamptz NOT NULL,
        hash text COLLATE "C" NOT NULL UNIQUE,
        expires_at timestamptz
      );
    `,
  },
];
