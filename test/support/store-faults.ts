/**
 * What the store fault tests share (faults-disk-full, faults-store-server): a spawned `dbtape serve`
 * in front of the machine's PostgreSQL with a store and a dashboard of its own, its recording
 * metrics, and alice's connections through it, named by application so that each test finds its
 * own session in the store.
 */
import assert from 'node:assert/strict';
import pg from 'pg';
import { parse, stringify } from 'yaml';
import { type Dbtape, startDbtape } from './dbtape-process.js';
import { ALICE, proxyYaml } from './pg-fixtures.js';
import { freePort } from './ports.js';
import { cli } from './recording-fixtures.js';
import { requireMachinePg } from './servers.js';

export interface RecordingServe {
  readonly dbtape: Dbtape;
  /** The PostgreSQL listener; the target is `app`. */
  readonly port: number;
  readonly metricsUrl: string;
}

/** `store` is the config's store section (url, durability, …). Stopping it is the caller's. */
export async function startRecordingServe(store: Record<string, unknown>): Promise<RecordingServe> {
  await requireMachinePg();
  const port = await freePort();
  const httpPort = await freePort();
  const doc = parse(proxyYaml({}, port, null)) as Record<string, unknown> & {
    listen: Record<string, string>;
  };
  doc.listen.http = `127.0.0.1:${httpPort}`;
  doc.store = { capture_results: 'summary', ...store };
  // A minute to start: a busy shared machine has kept dbtape from listening within the default 20 s.
  const dbtape = await startDbtape({ config: stringify(doc), startTimeoutMs: 60_000 });
  return { dbtape, port, metricsUrl: `http://127.0.0.1:${httpPort}/metrics` };
}

/** The `dbtape_recording_*` figures of /metrics. */
export async function recordingMetrics(url: string): Promise<Record<string, number>> {
  const text = await (await fetch(url)).text();
  const out: Record<string, number> = {};
  for (const m of text.matchAll(/^(dbtape_recording_\w+) (\d+)$/gm)) out[m[1]!] = Number(m[2]);
  return out;
}

/** alice, connected through `serve` to the target `app`. */
export async function connectAlice(serve: RecordingServe, application: string): Promise<pg.Client> {
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
