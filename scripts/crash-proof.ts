/**
 * Crash proof for `durability: strict` (issue 5). Not part of `npm test`; run it and report:
 *
 *   node --import tsx scripts/crash-proof.ts [--trials N] [--clients C] [--scale S]
 *                      [--mode simple|prepared] [--min-ms A] [--max-ms B] [--keep]
 *                      [--store sqlite|postgres]
 *
 * `--store postgres` records each trial into a new database on the machine's PostgreSQL
 * (127.0.0.1:5432, user root) instead of a SQLite file: the same check for the PostgreSQL store.
 * `runCrashProof()` is exported, for a short version inside a test.
 *
 * A throwaway PostgreSQL logs every statement it executes (log_statement=all). Each trial starts
 * `node bin/dbtape.js serve` in strict mode with signing and encryption keys, runs pgbench
 * (TPC-B-like, seven statements per transaction) through it, SIGKILLs dbtape at a random moment,
 * restarts it (which closes the killed sessions with proxy_crash and signs a checkpoint), stops
 * it cleanly, and then checks that every statement the server executed through dbtape is in the
 * recording and that the whole store verifies. Exits 1 on any lost statement or finding.
 *
 * Needs the build (`npm run build`) and the PostgreSQL server binaries and pgbench.
 */
import { closeSync, fstatSync, mkdtempSync, openSync, readSync, rmSync, statSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { pathToFileURL } from 'node:url';
import { parseArgs } from 'node:util';
import { stringify } from 'yaml';
import { hashPassword } from '../src/config/verifiers.js';
import { createSecretFile } from '../src/integrity/key-files.js';
import { createKeyringFile, loadKeyring } from '../src/integrity/keyring.js';
import { generateSigningKey, trustedKeyFromPem } from '../src/integrity/signing-key.js';
import { verifyStore } from '../src/integrity/verify.js';
import { openStore } from '../src/store/open-store.js';
import { requirePgBinary } from '../test/support/binaries.js';
import { type Dbtape, startDbtape } from '../test/support/dbtape-process.js';
import { envWithoutPg, run } from '../test/support/exec.js';
import { type PgCluster, startPgCluster } from '../test/support/pg-cluster.js';
import { freePort } from '../test/support/ports.js';

export interface CrashProofOptions {
  readonly trials: number;
  /** pgbench clients and scale (branches: fewer make transactions wait on each other's locks). */
  readonly clients: number;
  readonly scale: number;
  /** pgbench -M: simple (Query messages) or prepared (Parse/Bind/Execute, with parameters). */
  readonly mode: 'simple' | 'prepared';
  /** dbtape is killed at a random moment between these, after it starts. */
  readonly minMs: number;
  readonly maxMs: number;
  /** Keep the work folder (stores, logs) for a look afterwards. */
  readonly keep: boolean;
  /**
   * The session store: a SQLite file per trial (the default), or a database per trial on the
   * machine's PostgreSQL (127.0.0.1:5432, user root), each dropped afterwards unless `keep`.
   */
  readonly store?: 'sqlite' | 'postgres';
  readonly log: (line: string) => void;
}

export interface TrialResult {
  /** Statements the server executed through dbtape, and how many query events were recorded. */
  readonly executed: number;
  readonly recorded: number;
  /** Executed statements missing from the recording. */
  readonly lost: readonly string[];
  /** verify findings, open sessions after the restart, sessions not covered by a checkpoint. */
  readonly findings: number;
  /** Statements per second, from the first statement the server logged to the last. */
  readonly rate: number;
  /** dbtape was SIGKILLed this long after the server ran the trial's first statement through it. */
  readonly killedAfterMs: number;
}

export interface CrashProofSummary {
  readonly trials: readonly TrialResult[];
  readonly executed: number;
  readonly lost: number;
  readonly findings: number;
  readonly medianRate: number;
  readonly minRate: number;
}

const UPSTREAM_USER = 'crashproof';
const PASSWORD = 'crash-proof-password';

export async function runCrashProof(o: CrashProofOptions): Promise<CrashProofSummary> {
  const pgbench = requirePgBinary('pgbench', 'postgresql-contrib');
  const work = mkdtempSync(path.join(os.tmpdir(), 'dbtape-crash-proof-'));
  const pg = await startPgCluster({
    users: [{ name: UPSTREAM_USER, password: 'unused', superuser: true }],
    databases: ['bench'],
    settings: { log_statement: 'all', log_line_prefix: '%m [%p] %u@%d ', max_connections: '200' },
  });
  try {
    const init = ['-i', '-q', '-s', String(o.scale), '-h', '127.0.0.1', '-p', String(pg.port)];
    await run(pgbench, [...init, '-U', UPSTREAM_USER, 'bench'], { env: envWithoutPg(), timeoutMs: 300_000 });
    const setup = makeSetup(work);
    const results: TrialResult[] = [];
    for (let i = 1; i <= o.trials; i++) {
      const r = await trial(i, setup, pg, pgbench, o);
      results.push(r);
      const status = r.lost.length === 0 && r.findings === 0 ? 'ok' : 'FAILED';
      o.log(
        `trial ${i}/${o.trials}: killed ${r.killedAfterMs} ms after the first statement; server executed ${r.executed} statements ` +
          `through dbtape (${Math.round(r.rate)}/s), recording holds ${r.recorded}; lost ${r.lost.length}; ` +
          `verify findings ${r.findings}: ${status}`,
      );
      for (const l of r.lost.slice(0, 5)) o.log(`  lost: ${l}`);
    }
    const rates = results.map((r) => r.rate).sort((a, b) => a - b);
    return {
      trials: results,
      executed: results.reduce((s, r) => s + r.executed, 0),
      lost: results.reduce((s, r) => s + r.lost.length, 0),
      findings: results.reduce((s, r) => s + r.findings, 0),
      medianRate: rates[Math.floor(rates.length / 2)] ?? 0,
      minRate: rates[0] ?? 0,
    };
  } finally {
    await pg.stop();
    if (!o.keep) rmSync(work, { recursive: true, force: true });
    else o.log(`kept ${work}`);
  }
}

interface Setup {
  readonly dir: string;
  readonly publicPem: string;
}

/** The keys every trial's dbtape uses. */
function makeSetup(work: string): Setup {
  const keys = path.join(work, 'keys');
  const pair = generateSigningKey();
  createSecretFile(path.join(keys, 'signing.key'), pair.privatePem);
  createKeyringFile(path.join(keys, 'master.key'));
  return { dir: work, publicPem: pair.publicPem };
}

function configFor(setup: Setup, pg: PgCluster, storeUrl: string, port: number): string {
  return stringify({
    listen: { postgres: `127.0.0.1:${port}` },
    store: {
      url: storeUrl,
      durability: 'strict',
      signing_key_file: path.join(setup.dir, 'keys', 'signing.key'),
      encryption_key_file: path.join(setup.dir, 'keys', 'master.key'),
    },
    targets: [
      {
        name: 'bench',
        protocol: 'postgres',
        host: '127.0.0.1',
        port: pg.port,
        database: 'bench',
        user: UPSTREAM_USER,
        password_env: 'CRASH_UPSTREAM_PASSWORD',
        tls: 'disable',
      },
    ],
    users: [{ name: 'alice', password: hashPassword(PASSWORD), roles: ['bench'] }],
    roles: [{ name: 'bench', targets: ['bench'], access: 'write' }],
    log: { level: 'warn' },
  });
}

async function trial(
  n: number,
  setup: Setup,
  pg: PgCluster,
  pgbench: string,
  o: CrashProofOptions,
): Promise<TrialResult> {
  const dir = path.join(setup.dir, `trial-${n}`);
  const storeUrl = await trialStore(n, dir, o);
  const port = await freePort();
  const config = configFor(setup, pg, storeUrl, port);
  const env = { CRASH_UPSTREAM_PASSWORD: 'unused' };
  const logFile = path.join(pg.dir, 'server.log');
  const startOffset = fileSize(logFile);
  let dbtape = await start({ config, dir, env }, o.log);
  const bench = runBench(pgbench, port, o);
  // The random moment counts from the first statement the server ran through dbtape, not from
  // dbtape's start: on a busy machine pgbench's logins alone can outlast a short kill window,
  // and a kill before any statement proves nothing.
  await firstStatement(logFile, startOffset);
  const killAfter = o.minMs + Math.floor(Math.random() * (o.maxMs - o.minMs));
  await new Promise((r) => setTimeout(r, killAfter));
  dbtape.kill('SIGKILL');
  await dbtape.process.exited;
  await bench;
  // Restart: crash recovery closes the killed sessions (proxy_crash) and signs a checkpoint.
  dbtape = await start({ config, dir, env }, o.log);
  await dbtape.stop();
  const marker = `crash-proof marker ${n} ${Date.now()}`;
  await pg.psql(`SELECT '${marker}';`);
  const { statements: executed, seconds } = await executedStatements(logFile, startOffset, marker);
  const { recorded, findings } = await readRecording(storeUrl, setup, o.log);
  if (o.store === 'postgres' && !o.keep) await machinePsql(`DROP DATABASE ${pgStoreName(n)} WITH (FORCE)`);
  const lost: string[] = [];
  for (const [stmt, count] of executed) {
    const have = recorded.get(stmt) ?? 0;
    for (let i = have; i < count; i++) lost.push(stmt);
  }
  const total = [...executed.values()].reduce((s, c) => s + c, 0);
  return {
    executed: total,
    recorded: [...recorded.values()].reduce((s, c) => s + c, 0),
    lost,
    findings,
    rate: seconds > 0 ? total / seconds : 0,
    killedAfterMs: killAfter,
  };
}

/**
 * Starts dbtape, again if something else on a shared machine signalled it before it listened (a
 * real failure to start, such as a recovery bug, fails every attempt the same way and is thrown).
 */
async function start(
  options: Parameters<typeof startDbtape>[0],
  log: (line: string) => void,
): Promise<Dbtape> {
  for (let attempt = 1; ; attempt++) {
    try {
      return await startDbtape(options);
    } catch (err) {
      const signalled = /exited \(signal SIG(TERM|INT|HUP)\) before listening/.test(String(err));
      if (!signalled || attempt >= 3) throw err;
      log(`  dbtape was signalled by someone else before it listened; starting it again (${attempt})`);
    }
  }
}

/** pgbench through dbtape until dbtape dies; its failure then is expected. */
async function runBench(pgbench: string, port: number, o: CrashProofOptions): Promise<void> {
  const args = ['-n', '-M', o.mode, '-c', String(o.clients), '-j', '2', '-T', '60'];
  args.push('-h', '127.0.0.1', '-p', String(port), '-U', 'alice', 'bench');
  await run(pgbench, args, { env: { ...envWithoutPg(), PGPASSWORD: PASSWORD }, timeoutMs: 120_000 }).catch(
    () => {},
  );
}

/** Waits (up to 60 s) until the server log shows a statement of dbtape's upstream user. */
async function firstStatement(file: string, offset: number): Promise<void> {
  const re = new RegExp(` ${UPSTREAM_USER}@bench LOG:  (statement|execute [^:]*):`);
  for (const deadline = Date.now() + 60_000; Date.now() < deadline; ) {
    if (re.test(readFrom(file, offset))) return;
    await new Promise((r) => setTimeout(r, 50));
  }
  throw new Error('pgbench ran no statement through dbtape within 60 s');
}

function fileSize(file: string): number {
  try {
    return statSync(file).size;
  } catch {
    return 0;
  }
}

/** The file's text from `offset` on (the server log grows by ~100 MB over 200 trials). */
function readFrom(file: string, offset: number): string {
  const fd = openSync(file, 'r');
  try {
    const length = Math.max(0, fstatSync(fd).size - offset);
    const buf = Buffer.alloc(length);
    let got = 0;
    while (got < length) {
      const n = readSync(fd, buf, got, length - got, offset + got);
      if (n === 0) break;
      got += n;
    }
    return buf.subarray(0, got).toString('utf8');
  } finally {
    closeSync(fd);
  }
}

/**
 * Statements the server executed for dbtape's upstream user since `offset`, as a multiset of keys
 * (statement text, plus parameters for prepared statements). Waits for the marker line, which the
 * server logged after everything of the trial. `seconds`: from the first to the last of them.
 */
async function executedStatements(
  file: string,
  offset: number,
  marker: string,
): Promise<{ statements: Map<string, number>; seconds: number }> {
  let text = '';
  for (let i = 0; i < 200 && !text.includes(marker); i++) {
    text = readFrom(file, offset);
    if (!text.includes(marker)) await new Promise((r) => setTimeout(r, 50));
  }
  if (!text.includes(marker)) throw new Error('the server log never showed the trial marker');
  const out = new Map<string, number>();
  const times: number[] = [];
  const lines = text.split('\n');
  const prefix = ` ${UPSTREAM_USER}@bench LOG:  `;
  for (let i = 0; i < lines.length; i++) {
    const line = lines[i]!;
    const at = line.indexOf(prefix);
    if (at < 0) continue;
    const msg = line.slice(at + prefix.length);
    let key: string | null = null;
    if (msg.startsWith('statement: ')) key = msg.slice('statement: '.length);
    else {
      const m = /^execute [^:]*: (.*)$/.exec(msg);
      if (m) {
        const detail = /DETAIL: {2}parameters: (.*)$/.exec(lines[i + 1] ?? '');
        key = `${m[1]}\u0000${detail ? parseParams(detail[1]!).join('\u0001') : ''}`;
      }
    }
    if (key === null) continue;
    out.set(key, (out.get(key) ?? 0) + 1);
    const t = Date.parse(line.slice(0, 23).replace(' ', 'T'));
    if (Number.isFinite(t)) times.push(t);
  }
  const seconds = times.length > 1 ? (Math.max(...times) - Math.min(...times)) / 1000 : 0;
  return { statements: out, seconds };
}

/** `$1 = '42', $2 = NULL` → ['42', null→'\u0002']. */
function parseParams(text: string): string[] {
  const out: string[] = [];
  const re = /\$\d+ = (?:'((?:[^']|'')*)'|NULL)/g;
  for (let m = re.exec(text); m; m = re.exec(text))
    out.push(m[1] === undefined ? '\u0002' : m[1].replaceAll("''", "'"));
  return out;
}

/** The trial's store URL; a PostgreSQL one is a new, empty database. */
async function trialStore(n: number, dir: string, o: CrashProofOptions): Promise<string> {
  if (o.store !== 'postgres') return `sqlite:${path.join(dir, 'rec.db')}`;
  await machinePsql(`DROP DATABASE IF EXISTS ${pgStoreName(n)} WITH (FORCE)`);
  await machinePsql(`CREATE DATABASE ${pgStoreName(n)}`);
  return `postgres://root@127.0.0.1:5432/${pgStoreName(n)}`;
}

function pgStoreName(n: number): string {
  return `dbtape_crash_${process.pid}_${n}`;
}

async function machinePsql(sql: string): Promise<void> {
  await run('psql', ['-h', '127.0.0.1', '-p', '5432', '-U', 'root', '-d', 'postgres', '-qc', sql]);
}

async function readRecording(
  storeUrl: string,
  setup: Setup,
  log: (line: string) => void,
): Promise<{ recorded: Map<string, number>; findings: number }> {
  const keyring = loadKeyring(path.join(setup.dir, 'keys', 'master.key'));
  const store = openStore(storeUrl, { readonly: true, keyring });
  try {
    const recorded = new Map<string, number>();
    for (const s of await store.listSessions({ limit: 10_000 })) {
      for (let after = 0; ; ) {
        const events = await store.getEvents(s.id, { afterSeq: after, limit: 10_000 });
        if (events.length === 0) break;
        after = events[events.length - 1]!.seq;
        for (const e of events) {
          if (e.kind !== 'query') continue;
          const key =
            e.via === 'simple'
              ? e.sql
              : `${e.sql}\u0000${(e.params ?? []).map((p) => p ?? '\u0002').join('\u0001')}`;
          recorded.set(key, (recorded.get(key) ?? 0) + 1);
        }
      }
    }
    const report = await verifyStore(store.integrity!(), {
      trustedKeys: [trustedKeyFromPem(setup.publicPem)],
      keyring,
    });
    for (const f of report.findings.slice(0, 5))
      log(`  finding: ${f.session} ${f.seq} ${f.kind} ${f.detail}`);
    if (report.open > 0) log(`  ${report.open} session(s) still open after the restart`);
    return { recorded, findings: report.problems + report.open + report.unsigned };
  } finally {
    await store.close();
  }
}

async function main(): Promise<number> {
  const { values } = parseArgs({
    options: {
      trials: { type: 'string', default: '5' },
      clients: { type: 'string', default: '16' },
      scale: { type: 'string', default: '20' },
      mode: { type: 'string', default: 'simple' },
      'min-ms': { type: 'string', default: '500' },
      'max-ms': { type: 'string', default: '3000' },
      keep: { type: 'boolean', default: false },
      store: { type: 'string', default: 'sqlite' },
    },
  });
  const o: CrashProofOptions = {
    trials: Number(values.trials),
    clients: Number(values.clients),
    scale: Number(values.scale),
    mode: values.mode === 'prepared' ? 'prepared' : 'simple',
    minMs: Number(values['min-ms']),
    maxMs: Number(values['max-ms']),
    keep: values.keep ?? false,
    store: values.store === 'postgres' ? 'postgres' : 'sqlite',
    log: (line) => console.log(line),
  };
  const s = await runCrashProof(o);
  console.log(
    `\n${o.trials} trials, mode ${o.mode}, ${o.clients} clients: ${s.executed} statements executed, ` +
      `${s.lost} lost, ${s.findings} verify findings; statements/s median ${Math.round(s.medianRate)}, ` +
      `min ${Math.round(s.minRate)}`,
  );
  return s.lost === 0 && s.findings === 0 ? 0 : 1;
}

// Run as a script; importing it (a test) only gets runCrashProof.
if (process.argv[1] && import.meta.url === pathToFileURL(process.argv[1]).href) {
  main().then(
    (code) => process.exit(code),
    (err) => {
      console.error(`crash-proof: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}`);
      process.exit(1);
    },
  );
}
