// What one policy decision costs on the proxy's hot path: ns per `PolicySession.decide(sql)` for
// texts the engine has seen before (exactly, or up to plain literals), per dialect. Each text is a
// fresh flat string, as the proxy decodes it from a message, so no hash is cached in it.
//
//   node --import tsx bench/policy-decide.ts [--rounds 7] [--texts 20000]
//        [--impl NAME=path/to/policy/index.ts ...] [--only SUBSTRING-OF-SCENARIO-NAME]
//
// --impl compares implementations (default: this checkout's src/policy), e.g. a copy of the
// previous src/policy; each round runs each in a fresh process, and the median per scenario over
// rounds is reported, since the machine is shared and noisy.
import { spawnSync } from 'node:child_process';
import path from 'node:path';
import { pathToFileURL } from 'node:url';
import { parseArgs } from 'node:util';
import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';
import type * as Policy from '../src/policy/index.js';

type PolicyModule = typeof Policy;
type Dialect = 'postgres' | 'mysql';

const { values } = parseArgs({
  options: {
    rounds: { type: 'string', default: '7' },
    texts: { type: 'string', default: '20000' },
    impl: { type: 'string', multiple: true },
    only: { type: 'string' },
    child: { type: 'string' },
  },
});
const ROUNDS = Number(values.rounds);
const TEXTS = Number(values.texts);
const BATCH = 500;

interface Scenario {
  readonly name: string;
  readonly dialect: Dialect;
  /** The i-th text of a round; `r` is a random integer. */
  readonly text: (i: number, r: number) => string;
}

const ORM_PG_SELECT =
  'SELECT "auth_user"."id", "auth_user"."password", "auth_user"."last_login", "auth_user"."is_superuser", ' +
  '"auth_user"."username", "auth_user"."email" FROM "auth_user" WHERE "auth_user"."id" = ';
const ORM_MY_SELECT =
  'SELECT `users`.`id`, `users`.`email`, `users`.`name`, `users`.`created_at` FROM `users` WHERE `users`.`id` = ';
const TPCB = [
  (r: number) => `UPDATE pgbench_accounts SET abalance = abalance + ${(r % 10000) - 5000} WHERE aid = ${r};`,
  (r: number) => `SELECT abalance FROM pgbench_accounts WHERE aid = ${r};`,
  (r: number) =>
    `UPDATE pgbench_tellers SET tbalance = tbalance + ${(r % 10000) - 5000} WHERE tid = ${r % 10};`,
  (r: number) => `UPDATE pgbench_branches SET bbalance = bbalance + ${(r % 10000) - 5000} WHERE bid = 1;`,
  (r: number) =>
    `INSERT INTO pgbench_history (tid, bid, aid, delta, mtime) VALUES (${r % 10}, 1, ${r}, ${r % 5000}, CURRENT_TIMESTAMP);`,
];

const ALL_SCENARIOS: readonly Scenario[] = [
  {
    name: 'pg  pgbench -S, new literal',
    dialect: 'postgres',
    text: (_i, r) => `SELECT abalance FROM pgbench_accounts WHERE aid = ${r};`,
  },
  { name: 'pg  tpcb statements, new literals', dialect: 'postgres', text: (i, r) => TPCB[i % 5]!(r) },
  {
    name: 'pg  pgbench -S, same text',
    dialect: 'postgres',
    text: () => 'SELECT abalance FROM pgbench_accounts WHERE aid = $1;',
  },
  {
    name: 'pg  ORM select, new literal',
    dialect: 'postgres',
    text: (_i, r) => `${ORM_PG_SELECT}${r} LIMIT 21`,
  },
  {
    name: 'pg  ORM select, same text',
    dialect: 'postgres',
    text: () =>
      'SELECT "posts".* FROM "posts" WHERE "posts"."user_id" = $1 ORDER BY "posts"."created_at" DESC LIMIT $2',
  },
  {
    name: 'pg  ORM insert, new literals',
    dialect: 'postgres',
    text: (_i, r) =>
      `INSERT INTO "orders" ("customer_id", "status", "total", "note") VALUES (${r}, 'open', ${r % 1000}.50, 'n${r}') RETURNING "orders"."id"`,
  },
  {
    name: 'my  sysbench point select, new literal',
    dialect: 'mysql',
    text: (_i, r) => `SELECT c FROM sbtest1 WHERE id=${r}`,
  },
  {
    name: 'my  sysbench point select, same text',
    dialect: 'mysql',
    text: () => 'SELECT c FROM sbtest1 WHERE id=?',
  },
  { name: 'my  ORM select, new literal', dialect: 'mysql', text: (_i, r) => `${ORM_MY_SELECT}${r} LIMIT 1` },
  {
    name: 'my  ORM update, new literals',
    dialect: 'mysql',
    text: (_i, r) =>
      `UPDATE \`users\` SET \`email\` = 'user${r}@example.com', \`visits\` = ${r} WHERE \`id\` = ${r}`,
  },
];

const SCENARIOS = values.only ? ALL_SCENARIOS.filter((s) => s.name.includes(values.only!)) : ALL_SCENARIOS;

interface Impl {
  readonly name: string;
  readonly sessions: Record<Dialect, Policy.PolicySession>;
}

async function loadImpl(name: string, file: string): Promise<Impl> {
  const m = (await import(pathToFileURL(path.resolve(file)).href)) as PolicyModule;
  await m.loadPolicyParsers();
  // The bench target dbtape-policy's role (bench/targets.ts): every statement is parsed and checked.
  const rules = {
    denyKinds: ['drop', 'truncate', 'alter'],
    denyTables: ['public.secrets'],
    allowTables: null,
    requireWhere: true,
    maxRows: null,
    denyFunctions: ['pg_sleep'],
    allowFunctions: [],
  };
  const role = { name: 'bench', access: 'write' as const, rules };
  return {
    name,
    sessions: {
      postgres: new m.PolicyEngine('postgres', [role], 'public').openSession(),
      mysql: new m.PolicyEngine('mysql', [role], 'bench').openSession(),
    },
  };
}

/** Fresh flat strings, like `buffer.toString()` in the proxy, decoded from one buffer (little garbage). */
function texts(s: Scenario): string[] {
  const raw: string[] = [];
  for (let i = 0; i < BATCH; i++) raw.push(s.text(i, 1 + Math.floor(Math.random() * 10_000_000)));
  const buf = Buffer.from(raw.join(''));
  const out: string[] = [];
  let at = 0;
  for (const t of raw) {
    const len = Buffer.byteLength(t);
    out.push(buf.toString('utf8', at, at + len));
    at += len;
  }
  return out;
}

// A collection before each scenario, so that one scenario's garbage is not collected in another's.
setFlagsFromString('--expose-gc');
const gc = runInNewContext('gc') as () => void;

/**
 * ns per decision over TEXTS texts, timed in batches of BATCH: a small live set, as in the proxy,
 * where each text is dropped once decided (a big batch makes every scavenge copy it). The time of
 * collections that fall into a batch counts: what a decision allocates is part of its cost.
 */
function measure(impl: Impl, s: Scenario): number {
  const session = impl.sessions[s.dialect];
  let total = 0n;
  let denied = 0;
  gc();
  for (let done = 0; done < TEXTS; done += BATCH) {
    const list = texts(s);
    const t0 = process.hrtime.bigint();
    for (const sql of list) if (!session.decide(sql).allow) denied++;
    total += process.hrtime.bigint() - t0;
  }
  if (denied > 0) throw new Error(`${impl.name}: ${s.name}: ${denied} texts denied`);
  return Number(total) / (Math.ceil(TEXTS / BATCH) * BATCH);
}

function median(xs: readonly number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length % 2 ? s[m]! : (s[m - 1]! + s[m]!) / 2;
}

/** Child: one implementation, every scenario once after a warm-up; prints {scenario: ns}. */
async function child(file: string): Promise<void> {
  const impl = await loadImpl(file, file);
  // Warm up: parse each shape once and let the JIT settle.
  for (let i = 0; i < 2; i++) for (const s of SCENARIOS) measure(impl, s);
  const out: Record<string, number> = {};
  for (const s of SCENARIOS) out[s.name] = measure(impl, s);
  process.stdout.write(JSON.stringify(out));
}

if (values.child) {
  await child(values.child);
} else {
  const defaultImpl = new URL('../src/policy/index.ts', import.meta.url).pathname;
  const impls = (values.impl?.length ? values.impl : [`current=${defaultImpl}`]).map((spec) => {
    const eq = spec.indexOf('=');
    return {
      name: eq === -1 ? path.basename(spec) : spec.slice(0, eq),
      file: path.resolve(spec.slice(eq + 1)),
    };
  });
  // A process per implementation and round: two implementations in one process share the JIT's
  // type feedback and the heap, which skews both; alternating rounds spread the machine's load.
  const results = new Map<string, number[]>();
  const self = new URL(import.meta.url).pathname;
  for (let round = 0; round < ROUNDS; round++) {
    for (const impl of round % 2 ? [...impls].reverse() : impls) {
      const args = ['--import', 'tsx', self, '--child', impl.file, '--texts', String(TEXTS)];
      if (values.only) args.push('--only', values.only);
      const r = spawnSync(process.execPath, args, { encoding: 'utf8', stdio: ['ignore', 'pipe', 'inherit'] });
      if (r.status !== 0) throw new Error(`${impl.name}: exit ${r.status}`);
      const ns = JSON.parse(r.stdout) as Record<string, number>;
      for (const [scenario, v] of Object.entries(ns)) {
        const key = `${impl.name}\t${scenario}`;
        results.set(key, [...(results.get(key) ?? []), v]);
      }
    }
  }
  const width = Math.max(...SCENARIOS.map((s) => s.name.length));
  console.log(
    `ns per decide(), median of ${ROUNDS} rounds × ${TEXTS} texts (min-max in brackets); node ${process.version}`,
  );
  console.log(`${'scenario'.padEnd(width)}  ${impls.map((i) => i.name.padStart(22)).join('')}`);
  for (const s of SCENARIOS) {
    const cells = impls.map((impl) => {
      const xs = results.get(`${impl.name}\t${s.name}`)!;
      const cell = `${median(xs).toFixed(0)} [${Math.min(...xs).toFixed(0)}-${Math.max(...xs).toFixed(0)}]`;
      return cell.padStart(22);
    });
    console.log(`${s.name.padEnd(width)}  ${cells.join('')}`);
  }
}
