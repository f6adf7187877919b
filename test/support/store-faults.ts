/**
 * What the store fault tests share (faults-disk-full, faults-store-server), beside the recording
 * `serve` they start (recording-fixtures.ts, with a dashboard): its recording metrics, alice's
 * connections through it, named by application so that each test finds its own session in the
 * store, and the checks on what the store holds.
 */
import assert from 'node:assert/strict';
import pg from 'pg';
import type { SessionEvent } from '../../src/model/session.js';
import type { Dbtape } from './dbtape-process.js';
import { ALICE } from './pg-fixtures.js';
import { cli, endedSessions, storedEvents } from './recording-fixtures.js';

/** The `dbtape_recording_*` figures of /metrics. */
export async function recordingMetrics(url: string): Promise<Record<string, number>> {
  const text = await (await fetch(url)).text();
  const out: Record<string, number> = {};
  for (const m of text.matchAll(/^(dbtape_recording_\w+) (\d+)$/gm)) out[m[1]!] = Number(m[2]);
  return out;
}

/** alice, connected through `serve` to the target `app`. */
export async function connectAlice(
  serve: { readonly port: number },
  application: string,
): Promise<pg.Client> {
  const client = new pg.Client({
    host: '127.0.0.1',
    port: serve.port,
    user: ALICE.name,
    password: ALICE.password,
    database: 'app',
    application_name: application,
  });
  await client.connect();
  return client;
}

/** A session's stored events are numbered 1, 2, 3, … with no hole: whatever was lost is a gap. */
export function assertDense(events: readonly { seq: number }[]): void {
  assert.deepEqual(
    events.map((e) => e.seq),
    events.map((_, i) => i + 1),
    'the stored sequence is dense',
  );
}

/** `dbtape verify --all` finds nothing wrong in the store. */
export async function assertVerifies(storeUrl: string): Promise<void> {
  const verify = await cli(storeUrl, ['verify', '--all']);
  assert.equal(verify.code, 0, `verify --all: ${verify.stdout}${verify.stderr}`);
}

/**
 * After a strict-mode fault, on a session whose statements inserted the ids 0, 1, 2, … into
 * `table` (`INSERT INTO <table> VALUES (<id>…`): the table holds exactly `ran` (the refused ones did
 * not run), dbtape is still running, and every statement that ran is in the recording. Ends
 * `client`; returns the session's stored events.
 */
export async function assertRanAndRecorded(
  serve: { readonly dbtape: Dbtape; readonly storeUrl: string },
  client: pg.Client,
  application: string,
  table: string,
  ran: readonly number[],
): Promise<SessionEvent[]> {
  const rows = (await client.query(`SELECT id FROM ${table} ORDER BY id`)).rows.map((r) => r.id as number);
  assert.deepEqual(rows, ran, 'exactly the statements that were not refused ran');
  await client.end();
  assert.ok(serve.dbtape.process.running, 'dbtape is still running: no restart');

  const [session] = await endedSessions(serve.storeUrl, (s) => s.application === application, 1);
  const events = await storedEvents(serve.storeUrl, session!.id);
  const insert = new RegExp(`^INSERT INTO ${table} VALUES \\((\\d+)[,)]`);
  const recorded = new Set(
    events.flatMap((e) => {
      const m = e.kind === 'query' ? insert.exec(e.sql) : null;
      return m ? [Number(m[1])] : [];
    }),
  );
  assert.deepEqual(
    ran.filter((n) => !recorded.has(n)),
    [],
    'statements the server ran but the recording lacks',
  );
  return events;
}
