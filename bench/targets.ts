import { mkdtempSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { stringify as toYaml } from 'yaml';
import { removeAtExit } from '../test/support/cleanup.js';
import { DBTAPE_BIN, startDbtape } from '../test/support/dbtape-process.js';
import { run } from '../test/support/exec.js';
import { freePort } from '../test/support/ports.js';
import type { Endpoint } from './pgbench.js';
import { startPgbouncer } from './pgbouncer.js';
import { startRelay } from './relay-process.js';

/**
 * A place pgbench can be pointed at. The list is data: a dbtape variant (say, recording off or strict
 * durability) is one more entry with a YAML overlay.
 */
export interface TargetSpec {
  readonly name: string;
  readonly kind: 'direct' | 'pgbouncer' | 'relay' | 'dbtape';
  /** For kind dbtape: deep-merged over the generated dbtape.yaml. */
  readonly dbtapeYaml?: Record<string, unknown>;
  /** The only modes this target runs (all when absent). */
  readonly modes?: readonly string[];
}

const POLICY_MODES = ['select-simple', 'select-extended', 'select-prepared'];

function policyYaml(record: boolean): Record<string, unknown> {
  return {
    store: { record },
    roles: [
      {
        name: 'bench',
        targets: ['bench'],
        access: 'read',
        rules: {
          deny_tables: ['public.secrets', 'public.pgbench_history'],
          deny_functions: ['pg_sleep'],
          max_rows: 1000,
        },
      },
    ],
  };
}

/**
 * In run order (reversed every other round): each pair the report divides runs side by side, so
 * that a shared machine's swings between runs weigh least on the ratios the goals are judged by
 * (policy ÷ norecord, norecord ÷ dbtape, policy-recorded ÷ dbtape); strict, whose fsyncs leave
 * the disk busy for whatever runs next, goes between the relays and the recorded pairs.
 */
export const TARGETS: readonly TargetSpec[] = [
  { name: 'direct', kind: 'direct' },
  { name: 'pgbouncer', kind: 'pgbouncer' },
  { name: 'node-relay', kind: 'relay' },
  // Every statement durable (fsync) before it is forwarded: strict ÷ dbtape is its cost.
  { name: 'dbtape-strict', kind: 'dbtape', dbtapeYaml: { store: { durability: 'strict' } } },
  // The statement policy with recording on, as dbtape runs by default: dbtape-policy-recorded ÷
  // dbtape is what turning the policy on costs a recorded deployment.
  { name: 'dbtape-policy-recorded', kind: 'dbtape', modes: POLICY_MODES, dbtapeYaml: policyYaml(true) },
  // Recording on (the default config: fast durability, result summaries).
  { name: 'dbtape', kind: 'dbtape' },
  // The proxy alone: what recording costs is dbtape ÷ dbtape-norecord.
  { name: 'dbtape-norecord', kind: 'dbtape', dbtapeYaml: { store: { record: false } } },
  // The statement policy on, recording off: dbtape-policy ÷ dbtape-norecord is the policy's cost
  // to the proxy alone. A typical read-only role with guardrails, so every statement is parsed and
  // checked (and the upstream session runs with default_transaction_read_only); tpcb writes, so it
  // is not run here.
  { name: 'dbtape-policy', kind: 'dbtape', modes: POLICY_MODES, dbtapeYaml: policyYaml(false) },
];

/** The throwaway PostgreSQL every target reaches. */
export interface Upstream {
  readonly host: string;
  readonly port: number;
  readonly database: string;
  /** Superuser; trust authentication. */
  readonly user: string;
}

export interface TargetContext {
  readonly upstream: Upstream;
  readonly pgbouncerBin: string;
  readonly clients: number;
  /** Deep-merged over every dbtape target's YAML (from BENCH_DBTAPE_YAML). */
  readonly dbtapeYaml: Record<string, unknown>;
}

export interface RunningTarget {
  readonly spec: TargetSpec;
  readonly endpoint: Endpoint;
  /** Extra detail for the report (versions, config). */
  readonly note: string;
  /** The proxy's process (not for direct), whose CPU time per transaction the report shows. */
  readonly pid?: number;
  stop(): Promise<void>;
}

export async function startTarget(spec: TargetSpec, ctx: TargetContext): Promise<RunningTarget> {
  switch (spec.kind) {
    case 'direct':
      return { spec, endpoint: upstreamEndpoint(ctx, ctx.upstream.port), note: '', stop: async () => {} };
    case 'pgbouncer':
      return startPgbouncerTarget(spec, ctx);
    case 'relay':
      return startRelayTarget(spec, ctx);
    case 'dbtape':
      return startDbtapeTarget(spec, ctx);
  }
}

function upstreamEndpoint(ctx: TargetContext, port: number): Endpoint {
  return { host: '127.0.0.1', port, user: ctx.upstream.user, database: ctx.upstream.database };
}

async function startPgbouncerTarget(spec: TargetSpec, ctx: TargetContext): Promise<RunningTarget> {
  const bouncer = await startPgbouncer(ctx.pgbouncerBin, {
    upstreamHost: ctx.upstream.host,
    upstreamPort: ctx.upstream.port,
    database: ctx.upstream.database,
    user: ctx.upstream.user,
    poolSize: 20,
    maxClientConn: 200,
  });
  return {
    spec,
    endpoint: upstreamEndpoint(ctx, bouncer.port),
    note: 'pool_mode=session, default_pool_size=20, auth_type=trust',
    pid: bouncer.process.pid,
    stop: () => bouncer.stop(),
  };
}

async function startRelayTarget(spec: TargetSpec, ctx: TargetContext): Promise<RunningTarget> {
  const relay = await startRelay(ctx.upstream);
  return {
    spec,
    endpoint: upstreamEndpoint(ctx, relay.port),
    note: 'bench/relay.ts in its own node process',
    pid: relay.pid,
    stop: () => relay.stop(),
  };
}

const BENCH_PASSWORD = 'bench-password';

async function startDbtapeTarget(spec: TargetSpec, ctx: TargetContext): Promise<RunningTarget> {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'dbtape-bench-proxy-'));
  removeAtExit(dir);
  const hash = await run(process.execPath, [DBTAPE_BIN, 'user', 'hash'], { input: `${BENCH_PASSWORD}\n` });
  const port = await freePort();
  const config = dbtapeConfig(spec, ctx, { port, dir, passwordHash: hash.stdout.trim() });
  const dbtape = await startDbtape({
    config: toYaml(config),
    dir,
    env: { BENCH_UPSTREAM_PASSWORD: 'unused-trust' },
  });
  return {
    spec,
    endpoint: {
      host: '127.0.0.1',
      port,
      user: 'bench',
      database: ctx.upstream.database,
      password: BENCH_PASSWORD,
    },
    note: `store ${JSON.stringify(config.store)}`,
    pid: dbtape.process.pid,
    stop: async () => {
      await dbtape.stop();
    },
  };
}

/** The dbtape.yaml for a dbtape target: one postgres listener, one target, one user, overlays applied. */
export function dbtapeConfig(
  spec: TargetSpec,
  ctx: Pick<TargetContext, 'upstream' | 'dbtapeYaml'>,
  at: { port: number; dir: string; passwordHash: string },
) {
  const generated = {
    listen: { postgres: `127.0.0.1:${at.port}` },
    store: { url: `sqlite:${path.join(at.dir, 'bench.db')}`, durability: 'fast', capture_results: 'summary' },
    targets: [
      {
        name: ctx.upstream.database,
        protocol: 'postgres',
        host: ctx.upstream.host,
        port: ctx.upstream.port,
        database: ctx.upstream.database,
        user: ctx.upstream.user,
        // The upstream trusts us; dbtape still wants a password source.
        password_env: 'BENCH_UPSTREAM_PASSWORD',
        tls: 'disable',
      },
    ],
    users: [{ name: 'bench', password: at.passwordHash, roles: ['bench'] }],
    // admin: no statement is checked, so every target but dbtape-policy measures the proxy alone.
    roles: [{ name: 'bench', targets: [ctx.upstream.database], access: 'admin' }],
  };
  return deepMerge(deepMerge(generated, ctx.dbtapeYaml), spec.dbtapeYaml ?? {});
}

type Obj = Record<string, unknown>;

/** Objects merge key by key; anything else (arrays included) in `over` replaces. */
export function deepMerge<T extends Obj>(base: T, over: Obj): T {
  const out: Obj = { ...base };
  for (const [key, value] of Object.entries(over)) {
    const prev = out[key];
    out[key] = isObj(prev) && isObj(value) ? deepMerge(prev, value) : value;
  }
  return out as T;
}

function isObj(v: unknown): v is Obj {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}
