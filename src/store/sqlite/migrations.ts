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
];
