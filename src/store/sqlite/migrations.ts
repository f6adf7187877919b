/**
 * Numbered schema migrations for the SQLite store, applied in order inside one transaction at
 * open. Never edit a released migration: add the next number. (Kept in TypeScript rather than
 * .sql files so `tsc` ships them in dist/ without a copy step.)
 */
export interface Migration {
  readonly version: number;
  readonly name: string;
  readonly sql: string;
}

export const MIGRATIONS: readonly Migration[] = [
  {
    version: 1,
    name: 'sessions, events, statement search',
    sql: `
      CREATE TABLE sessions (
        sid INTEGER PRIMARY KEY,
        id TEXT NOT NULL UNIQUE,
        protocol TEXT NOT NULL,
        user_name TEXT NOT NULL,
        roles TEXT NOT NULL,
        client_addr TEXT NOT NULL,
        client_port INTEGER NOT NULL,
        application TEXT,
        client_tls TEXT,
        target TEXT NOT NULL,
        upstream_database TEXT NOT NULL,
        upstream_user TEXT NOT NULL,
        started_at_us INTEGER NOT NULL,
        ended_at_us INTEGER,
        end_reason TEXT,
        statements INTEGER NOT NULL DEFAULT 0,
        errors INTEGER NOT NULL DEFAULT 0,
        events INTEGER NOT NULL DEFAULT 0,
        last_seq INTEGER NOT NULL DEFAULT 0
      );
      CREATE INDEX sessions_started ON sessions (started_at_us, id);
      CREATE INDEX sessions_user ON sessions (user_name, started_at_us);
      CREATE INDEX sessions_target ON sessions (target, started_at_us);
      CREATE INDEX sessions_open ON sessions (started_at_us) WHERE ended_at_us IS NULL;

      -- body: the event in recording format v1 (store/event-codec.ts); the other columns index it.
      -- failed: for query events, 1/0 once the outcome is known (store/outcome-tracker.ts).
      CREATE TABLE events (
        id INTEGER PRIMARY KEY,
        session_sid INTEGER NOT NULL REFERENCES sessions (sid),
        seq INTEGER NOT NULL,
        at_us INTEGER NOT NULL,
        offset_us INTEGER NOT NULL,
        kind TEXT NOT NULL,
        failed INTEGER,
        format INTEGER NOT NULL DEFAULT 1,
        body TEXT NOT NULL
      );
      CREATE UNIQUE INDEX events_session_seq ON events (session_sid, seq);

      -- Contentless: the index keeps tokens only, the text lives once, in events.body.
      -- rowid = events.id. Snippets are built from the body (store/search-text.ts).
      CREATE VIRTUAL TABLE statement_fts USING fts5 (
        sql, params, content = '', contentless_delete = 1, tokenize = 'unicode61 remove_diacritics 2'
      );
    `,
  },
  {
    version: 2,
    name: 'hash chain, seals, signed checkpoints, encryption at rest',
    sql: `
      -- Chain head (hash of the last event) of every session; its seal once it ended.
      -- seal_no orders sealed sessions store-wide; checkpoints list them in that order.
      ALTER TABLE sessions ADD COLUMN head_hash BLOB;
      ALTER TABLE sessions ADD COLUMN seal BLOB;
      ALTER TABLE sessions ADD COLUMN seal_no INTEGER;
      CREATE UNIQUE INDEX sessions_seal_no ON sessions (seal_no) WHERE seal_no IS NOT NULL;

      -- hash: integrity/chain.ts. format 1: body is v1 JSON text; 2: body is a BLOB, the v1 JSON
      -- encrypted with the session's data key (AES-256-GCM envelope).
      ALTER TABLE events ADD COLUMN hash BLOB;

      -- One row. chain_from_sid: sessions from this sid on must be chained (older ones were
      -- recorded before migration 2). The rest is the store's head: the last seal and the last
      -- checkpoint, so that deleting the newest ones is noticed.
      CREATE TABLE integrity_state (
        id INTEGER PRIMARY KEY CHECK (id = 1),
        chain_from_sid INTEGER NOT NULL,
        seal_no INTEGER NOT NULL DEFAULT 0,
        seal BLOB,
        checkpoint_no INTEGER NOT NULL DEFAULT 0,
        checkpoint_hash BLOB,
        encrypted INTEGER NOT NULL DEFAULT 0
      );
      INSERT INTO integrity_state (id, chain_from_sid) SELECT 1, coalesce(max(sid), 0) + 1 FROM sessions;

      CREATE TABLE checkpoints (
        no INTEGER PRIMARY KEY,
        at_us INTEGER NOT NULL,
        key_id TEXT NOT NULL,
        body TEXT NOT NULL,
        hash BLOB NOT NULL,
        signature BLOB NOT NULL
      );
      -- Public keys that signed checkpoints (a verifier should trust its own copy, not these).
      CREATE TABLE signing_keys (
        key_id TEXT PRIMARY KEY,
        public_key BLOB NOT NULL,
        added_at_us INTEGER NOT NULL
      );

      -- Per-session data keys, wrapped by a master key version; fingerprint = SHA-256 of the key,
      -- covered by the session's chain (its genesis).
      CREATE TABLE session_keys (
        session_sid INTEGER PRIMARY KEY REFERENCES sessions (sid),
        key_version INTEGER NOT NULL,
        wrapped BLOB NOT NULL,
        fingerprint BLOB NOT NULL
      );
      -- Store-wide keys (the search index key), wrapped like data keys.
      CREATE TABLE store_keys (
        name TEXT PRIMARY KEY,
        key_version INTEGER NOT NULL,
        wrapped BLOB NOT NULL
      );
    `,
  },
  {
    version: 3,
    name: 'strict-mode journal',
    sql: `
      -- Strict durability: each group commit is one row here (a few pages and one fsync), moved
      -- into events, the chain and the search index in larger transactions soon after, and at
      -- the next open after a crash (sqlite-journal.ts). body: the encoded batch, sealed with a
      -- journal data key (wrapped like session keys) when the store is encrypted.
      CREATE TABLE journal (
        id INTEGER PRIMARY KEY,
        key_version INTEGER,
        wrapped_key BLOB,
        body BLOB NOT NULL
      );
    `,
  },
  {
    version: 4,
    name: 'strict-mode journal file',
    sql: `
      -- Strict batches are journaled in a file beside the store (journal-file.ts) instead of
      -- the journal table, which only a store written before this keeps rows in. This row says
      -- how far the file is applied: it changes in the transaction that applies its records.
      CREATE TABLE journal_position (
        id INTEGER PRIMARY KEY CHECK (id = 1),
        generation INTEGER NOT NULL,
        applied_no INTEGER NOT NULL,
        applied_end INTEGER NOT NULL
      );
      INSERT INTO journal_position (id, generation, applied_no, applied_end) VALUES (1, 1, 0, 0);
    `,
  },
  {
    version: 5,
    name: 'application reported after login',
    sql: `
      -- The application of the session's last \`client\` event (a client that named itself after
      -- login, as pgjdbc does with SET application_name); listings show it over the startup one.
      -- The chain covers the events, not this column: verify compares the two. Encrypted sessions
      -- leave it NULL (a name set by SQL can carry any value).
      ALTER TABLE sessions ADD COLUMN reported_application TEXT;
    `,
  },
];
