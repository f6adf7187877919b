/**
 * What the store fault tests share (faults-disk-full, faults-store-server), beside the recording
 * `serve` they start (recording-fixtures.ts, with a dashboard): its recording metrics, alice's
 * connections through it, named by application so that each test finds its own session in the
 * store, and the checks on what the store holds.
 */
import assert from 'node:assert/strict';
import pg from 'pg';
import { ALICE } from './pg-fixtures.js';
import { cli } from './recording-fixtures.js';

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
