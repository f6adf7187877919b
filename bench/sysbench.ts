import { run } from '../test/support/exec.js';

/** One sysbench workload against MySQL/MariaDB; modes are data, as for pgbench. */
export interface SysbenchMode {
  readonly name: string;
  readonly args: readonly string[];
  readonly description: string;
}

export const SYSBENCH_MODES: readonly SysbenchMode[] = [
  // sysbench's default --db-ps-mode=auto: every statement is a server-side prepared statement
  // (COM_STMT_PREPARE once, COM_STMT_EXECUTE with binary parameters and binary result rows).
  {
    name: 'ro-prepared',
    args: ['oltp_read_only'],
    description: 'oltp_read_only, prepared statements (binary protocol)',
  },
  // The text protocol: every statement a COM_QUERY with literal values, text result rows.
  {
    name: 'ro-text',
    args: ['oltp_read_only', '--db-ps-mode=disable'],
    description: 'oltp_read_only --db-ps-mode=disable (text protocol)',
  },
];

export interface MysqlEndpoint {
  readonly host: string;
  readonly port: number;
  readonly user: string;
  readonly password: string;
  readonly database: string;
}

export interface SysbenchLoad {
  readonly threads: number;
  readonly seconds: number;
  readonly tables: number;
  readonly tableSize: number;
}

export interface SysbenchResult {
  readonly tps: number;
  readonly latencyMs: number;
  /** Errors sysbench counted and ignored; a healthy run has 0. */
  readonly failed: number;
}

function connArgs(at: MysqlEndpoint): string[] {
  return [
    '--db-driver=mysql',
    `--mysql-host=${at.host}`,
    `--mysql-port=${at.port}`,
    `--mysql-user=${at.user}`,
    `--mysql-password=${at.password}`,
    `--mysql-db=${at.database}`,
  ];
}

function tableArgs(load: Pick<SysbenchLoad, 'tables' | 'tableSize'>): string[] {
  return [`--tables=${load.tables}`, `--table-size=${load.tableSize}`];
}

/** Creates and fills the sbtest tables (run against the server directly). */
export async function prepareSysbench(
  bin: string,
  at: MysqlEndpoint,
  load: Pick<SysbenchLoad, 'tables' | 'tableSize'>,
): Promise<void> {
  await run(bin, ['oltp_read_write', ...connArgs(at), ...tableArgs(load), 'prepare'], { timeoutMs: 600_000 });
}

/** One timed sysbench run; rejects with sysbench's output when it fails. */
export async function runSysbench(
  bin: string,
  at: MysqlEndpoint,
  mode: SysbenchMode,
  load: SysbenchLoad,
): Promise<SysbenchResult> {
  const args = [
    ...mode.args,
    ...connArgs(at),
    ...tableArgs(load),
    `--threads=${load.threads}`,
    `--time=${load.seconds}`,
    // Errors end the run: a proxy that fails statements must not look fast.
    '--mysql-ignore-errors=none',
    'run',
  ];
  const { stdout, stderr } = await run(bin, args, { timeoutMs: (load.seconds + 60) * 1000 });
  return parseSysbench(stdout + stderr);
}

/** Reads `transactions: N (X per sec.)`, the average latency and `ignored errors: N (...)`. */
export function parseSysbench(output: string): SysbenchResult {
  const tps = /transactions:\s+\d+\s+\(([\d.]+) per sec\.\)/.exec(output);
  const avg = /^\s*avg:\s+([\d.]+)/m.exec(output);
  if (!tps || !avg) throw new Error(`could not read sysbench's summary:\n${output.slice(-2000)}`);
  const ignored = /ignored errors:\s+(\d+)/.exec(output);
  return { tps: Number(tps[1]), latencyMs: Number(avg[1]), failed: ignored ? Number(ignored[1]) : 0 };
}

export async function sysbenchVersion(bin: string): Promise<string> {
  return (await run(bin, ['--version'])).stdout.trim();
}
