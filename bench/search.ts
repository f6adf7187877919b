// Search latency over a store of 10,000 recorded sessions: the figure issue 3 asks for.
// Builds the store through the store's own batch API (the recorder's write path), then
// times `search` for a token that occurs in exactly one statement.
import { mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { newSessionId } from '../src/model/ids.js';
import type { SessionEvent, SessionEventBody, SessionMeta } from '../src/model/session.js';
import { openStore } from '../src/store/open-store.js';
import type { WriteBatch } from '../src/store/session-store.js';
import { median } from './table.js';

export interface SearchBench {
  readonly sessions: number;
  readonly statements: number;
  readonly buildSeconds: number;
  readonly medianMs: number;
  readonly maxMs: number;
  readonly hits: number;
}

const TABLES = ['customers', 'orders', 'payments', 'invoices', 'shipments', 'accounts'];

export async function benchSearch(sessions = 10_000, perSession = 10): Promise<SearchBench> {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'dbtape-bench-search-'));
  try {
    const store = openStore(`sqlite:${path.join(dir, 'search.db')}`);
    const t0 = performance.now();
    const needleAt = Math.floor(sessions / 2);
    let batch: { sessions: SessionMeta[]; events: WriteBatch['events'][number][] } = {
      sessions: [],
      events: [],
    };
    const startUs = Date.now() * 1000 - sessions * 1_000_000;
    for (let i = 0; i < sessions; i++) {
      const meta: SessionMeta = {
        id: newSessionId(startUs / 1000 + i * 1000),
        protocol: 'postgres',
        user: `user${i % 50}`,
        roles: ['analyst'],
        clientAddr: '127.0.0.1',
        clientPort: 40000 + (i % 20000),
        application: 'psql',
        clientTls: 'TLSv1.3',
        target: `app${i % 5}`,
        upstreamDatabase: 'app',
        upstreamUser: 'app_rw',
        startedAtUs: startUs + i * 1_000_000,
      };
      batch.sessions.push(meta);
      let seq = 1;
      const ev = (body: SessionEventBody): void => {
        const event = {
          ...body,
          seq,
          atUs: meta.startedAtUs + seq * 1000,
          offsetUs: seq * 1000,
        } as SessionEvent;
        batch.events.push({ sessionId: meta.id, event });
        seq++;
      };
      ev({ kind: 'start', meta });
      for (let s = 0; s < perSession; s++) {
        const table = TABLES[(i + s) % TABLES.length];
        const sql =
          i === needleAt && s === 3
            ? `SELECT * FROM ${table} WHERE note = 'zebra7quux'`
            : `SELECT id, name, total FROM ${table} WHERE id = $1 AND region = 'r${(i * 7 + s) % 97}'`;
        ev({ kind: 'query', sql, params: [String(i * 100 + s)], via: 'extended' });
        ev({ kind: 'result', tag: 'SELECT 1', rows: 1, durationUs: 250 });
      }
      if (batch.sessions.length === 500) {
        await store.writeBatch({ ...batch, ends: [] });
        batch = { sessions: [], events: [] };
      }
    }
    if (batch.sessions.length) await store.writeBatch({ ...batch, ends: [] });
    const buildSeconds = (performance.now() - t0) / 1000;

    const times: number[] = [];
    let hits = 0;
    for (let r = 0; r < 21; r++) {
      const s0 = performance.now();
      const found = await store.search('zebra7quux');
      times.push(performance.now() - s0);
      hits = found.length;
    }
    await store.close();
    return {
      sessions,
      statements: sessions * perSession,
      buildSeconds,
      medianMs: median(times.slice(1)) ?? Number.NaN,
      maxMs: Math.max(...times.slice(1)),
      hits,
    };
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

export function renderSearch(r: SearchBench): string {
  return (
    `search: a unique token among ${r.sessions.toLocaleString('en')} sessions ` +
    `(${r.statements.toLocaleString('en')} statements): median ${r.medianMs.toFixed(1)} ms, ` +
    `max ${r.maxMs.toFixed(1)} ms over 20 searches, ${r.hits} hit(s) (target < 100 ms; store built in ${r.buildSeconds.toFixed(1)} s)`
  );
}
