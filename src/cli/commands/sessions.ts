/** `dbtape sessions`: recorded sessions, newest first, as a table or as SPEC.md's JSON array. */
import type { Command } from 'commander';
import { terminalSafeJson } from '../../replay/json-safe.js';
import { sessionTable } from '../../replay/session-list.js';
import { sessionToJson } from '../../store/json.js';
import {
  addStoreOptions,
  limitParser,
  nowUs,
  parseSince,
  type StoreOptions,
  withStore,
} from '../store-option.js';

interface SessionsOptions extends StoreOptions {
  readonly user?: string;
  readonly target?: string;
  readonly since?: number;
  readonly active?: boolean;
  readonly json?: boolean;
  readonly limit: number;
}

export function registerSessions(program: Command): void {
  const cmd = program
    .command('sessions')
    .description('list recorded sessions, newest first')
    .option('--user <name>', 'only sessions of this dbtape user')
    .option('--target <name>', 'only sessions to this target')
    .option('--since <when>', 'only sessions active since: 30s, 15m, 2h, 7d, or an ISO time', (v) =>
      parseSince(v),
    )
    .option('--active', 'only sessions still open')
    .option('--json', 'print a JSON array (the stable shape of shared/SPEC.md)')
    .option('--limit <n>', 'at most this many sessions (up to 10000)', limitParser(10_000), 100);
  addStoreOptions(cmd).action((opts: SessionsOptions) =>
    withStore(opts, async (store) => {
      const sessions = await store.listSessions({
        user: opts.user,
        target: opts.target,
        sinceUs: opts.since,
        active: opts.active ? true : undefined,
        limit: opts.limit,
      });
      const out = opts.json
        ? terminalSafeJson(sessions.map(sessionToJson), 2)
        : sessionTable(sessions, nowUs(), opts.limit).join('\n');
      process.stdout.write(`${out}\n`);
      // The table says so in its title; a JSON consumer hears it on stderr, its array untouched.
      if (opts.json && sessions.length >= opts.limit)
        process.stderr.write(`dbtape: listed the newest ${opts.limit} sessions; use --limit to see more\n`);
    }),
  );
}
