// Backpressure and session teardown through a spawned dbtape: a client that reads a ~1 GB result
// slowly must not make dbtape buffer it, and either side going away ends the other promptly.
import assert from 'node:assert/strict';
import type net from 'node:net';
import { after, before, test } from 'node:test';
import type pg from 'pg';
import { errorFields, loggedIn, type PgRaw, queryMessage, simpleQuery } from '../support/inproc-dbtape.js';
import {
  ALICE,
  activity,
  connectDirect,
  type DbtapeProxy,
  rssBytes,
  startProxy,
  uniqueName,
  waitForNoBackend,
} from '../support/pg-fixtures.js';
import { waitFor, withTimeout } from '../support/wait.js';

const ROWS = 10_000_000;
/** 10 million rows of 100 bytes (~1.1 GB on the wire). The cross join streams from the first row,
 *  where generate_series(1, 10000000) alone would first materialise 10 million rows server-side. */
const BIG_QUERY = "select repeat('x', 100) from generate_series(1, 10000) a, generate_series(1, 1000) b";
const RSS_BOUND = 150 * 1024 * 1024;
const MB = 1024 * 1024;

let proxy: DbtapeProxy;
let monitor: pg.Client;

before(async () => {
  proxy = await startProxy();
  monitor = await connectDirect();
});

after(async () => {
  await monitor?.end();
  await proxy?.stop();
});

/**
 * Reads backend messages straight off the socket, counting DataRows without keeping them, and
 * stops the socket after a given number of bytes so that the test decides how fast it reads.
 */
class SlowReader {
  rows = 0;
  bytes = 0;
  tag: string | null = null;
  error: Record<string, string> | null = null;
  private readonly header = Buffer.alloc(5);
  private headerLen = 0;
  private type = 0;
  private body: Buffer | null = null;
  private bodyAt = 0;
  private bodyLeft = 0;
  private pauseAt = Number.POSITIVE_INFINITY;
  private done: Promise<void>;
  private finish!: () => void;

  constructor(private readonly socket: net.Socket) {
    this.done = new Promise((resolve) => {
      this.finish = resolve;
    });
    socket.pause();
    socket.removeAllListeners('data');
    socket.on('data', (chunk: Buffer) => this.feed(chunk));
    socket.pause();
  }

  /** Reads about `n` more bytes, then stops reading; resolves when they are in. */
  async readMore(n: number, timeoutMs = 30_000): Promise<void> {
    const target = this.bytes + n;
    this.pauseAt = target;
    this.socket.resume();
    await waitFor(() => this.bytes >= target || this.tag !== null || this.error !== null, {
      timeoutMs,
      intervalMs: 10,
      what: `${n} more bytes of the result`,
    });
  }

  /** Reads everything up to ReadyForQuery. */
  readAll(timeoutMs: number): Promise<void> {
    this.pauseAt = Number.POSITIVE_INFINITY;
    this.socket.resume();
    return withTimeout(this.done, timeoutMs, 'the whole result');
  }

  private feed(chunk: Buffer): void {
    this.bytes += chunk.length;
    let pos = 0;
    while (pos < chunk.length) {
      if (this.headerLen < 5) {
        const n = Math.min(5 - this.headerLen, chunk.length - pos);
        chunk.copy(this.header, this.headerLen, pos, pos + n);
        this.headerLen += n;
        pos += n;
        if (this.headerLen < 5) break;
        this.type = this.header[0];
        this.bodyLeft = this.header.readInt32BE(1) - 4;
        this.body = this.type === 0x44 /* DataRow */ ? null : Buffer.alloc(this.bodyLeft);
        this.bodyAt = 0;
        if (this.bodyLeft === 0) this.complete();
        continue;
      }
      const n = Math.min(this.bodyLeft, chunk.length - pos);
      if (this.body) chunk.copy(this.body, this.bodyAt, pos, pos + n);
      this.bodyAt += n;
      this.bodyLeft -= n;
      pos += n;
      if (this.bodyLeft === 0) this.complete();
    }
    if (this.bytes >= this.pauseAt) this.socket.pause();
  }

  private complete(): void {
    this.headerLen = 0;
    const body = this.body ?? Buffer.alloc(0);
    switch (String.fromCharCode(this.type)) {
      case 'D':
        this.rows++;
        break;
      case 'C':
        this.tag = body.toString('utf8', 0, body.length - 1);
        break;
      case 'E':
        this.error = errorFields({ type: 'E', body });
        break;
      case 'Z':
        this.finish();
        break;
    }
  }
}

async function session(application: string): Promise<PgRaw> {
  return loggedIn(proxy.port, {
    user: ALICE.name,
    password: ALICE.password,
    params: [['application_name', application]],
  });
}

test('a slow reader of a ~1 GB result does not make dbtape buffer it', async (t) => {
  const application = uniqueName('slow_reader');
  const raw = await session(application);
  try {
    assert.equal(raw.pending, 0);
    const idle = rssBytes(proxy.pid);
    let peak = idle;
    const sample = () => {
      peak = Math.max(peak, rssBytes(proxy.pid));
    };

    const reader = new SlowReader(raw.socket);
    await raw.send(queryMessage(BIG_QUERY));
    await reader.readMore(MB);
    // With the client not reading, dbtape must stop reading too: the server then blocks writing.
    let streak = 0;
    await waitFor(
      async () => {
        sample();
        const [backend] = await activity(monitor, application);
        streak = backend?.state === 'active' && backend.waitEvent === 'ClientWrite' ? streak + 1 : 0;
        return streak >= 10;
      },
      {
        timeoutMs: 30_000,
        intervalMs: 100,
        what: 'the server to stay blocked writing to dbtape (ClientWrite)',
      },
    );
    const pausedAt = reader.bytes;
    for (let i = 0; i < 5; i++) {
      await reader.readMore(2 * MB);
      sample();
    }
    assert.ok(reader.bytes < pausedAt + 64 * MB, 'the reader did not stop between bursts');
    t.diagnostic(
      `dbtape RSS: ${Math.round(idle / MB)} MB idle, +${Math.round((peak - idle) / MB)} MB paused`,
    );
    assert.ok(
      peak - idle < RSS_BOUND,
      `dbtape's RSS grew by ${Math.round((peak - idle) / MB)} MB while the client read slowly`,
    );

    const sampler = setInterval(sample, 100);
    try {
      await reader.readAll(120_000);
    } finally {
      clearInterval(sampler);
    }
    t.diagnostic(`dbtape RSS: +${Math.round((peak - idle) / MB)} MB at most over the whole result`);
    assert.equal(reader.error, null);
    assert.equal(reader.tag, `SELECT ${ROWS}`);
    assert.equal(reader.rows, ROWS);
    assert.ok(
      peak - idle < RSS_BOUND,
      `dbtape's RSS grew by ${Math.round((peak - idle) / MB)} MB while forwarding the result`,
    );
  } finally {
    raw.destroy();
  }
});

test('a client killed mid-result ends its upstream backend', async () => {
  const application = uniqueName('killed_reader');
  const raw = await session(application);
  const reader = new SlowReader(raw.socket);
  await raw.send(queryMessage(BIG_QUERY));
  await reader.readMore(MB);
  assert.equal((await activity(monitor, application)).length, 1);
  raw.socket.destroy();
  await waitForNoBackend(monitor, application);
});

test('the server ending a session closes the client connection with its error', async () => {
  const application = uniqueName('terminated');
  const raw = await session(application);
  assert.equal((await simpleQuery(raw, 'select 1')).at(-1)?.type, 'Z');
  const [backend] = await activity(monitor, application);
  assert.ok(backend, 'no backend for the session');
  await monitor.query('select pg_terminate_backend($1)', [backend.pid]);
  const messages = await raw.readUntil('E');
  const err = errorFields(messages.at(-1)!);
  assert.equal(err.C, '57P01');
  await raw.closed();
});

test('after Terminate the client gets no error, only the close', async () => {
  const raw = await session(uniqueName('terminate'));
  // Terminate ('X'), then keep reading: the server hangs up first, and dbtape must not call that lost.
  await raw.send(Buffer.from([0x58, 0, 0, 0, 4]));
  await raw.closed();
  assert.equal(raw.pending, 0, 'dbtape sent something after Terminate');
});
