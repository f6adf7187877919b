/** `dbtape search TEXT`: full-text search of statements and their parameters, best match first. */
import type { Command } from 'commander';
import { terminalSafeJson } from '../../replay/json-safe.js';
import { PLAIN_HIGHLIGHT, searchLines, TERMINAL_HIGHLIGHT } from '../../replay/search-hits.js';
import { searchHitToJson } from '../../store/json.js';
import { addStoreOptions, limitParser, parseSince, type StoreOptions, withStore } from '../store-option.js';

interface SearchOptions extends StoreOptions {
  readonly user?: string;
  readonly target?: string;
  readonly since?: number;
  readonly errors?: boolean;
  readonly json?: boolean;
  readonly limit: number;
}

/** Bold only on a terminal that has not asked for no colour (https://no-color.org). */
function useAnsi(): boolean {
  return process.stdout.isTTY === true && !process.env.NO_COLOR;
}

export function registerSearch(program: Command): void {
  const cmd = program
    .command('search')
    .description('full-text search of recorded statements and their bound parameters, best match first')
    .argument('<text...>', 'words that must all appear; "quoted phrase" and prefix* work too')
    .option('--user <name>', 'only statements of this dbtape user')
    .option('--target <name>', 'only statements sent to this target')
    .option('--since <when>', 'only statements since: 30s, 15m, 2h, 7d, or an ISO time', (v) => parseSince(v))
    .option('--errors', 'only statements that failed')
    .option('--json', 'print a JSON array (the stable shape of shared/SPEC.md)')
    .option('--limit <n>', 'at most this many matches (up to 1000)', limitParser(1000), 50);
  addStoreOptions(cmd).action((words: string[], opts: SearchOptions) =>
    withStore(opts, async (store) => {
      const hits = await store.search(words.join(' '), {
        user: opts.user,
        target: opts.target,
        sinceUs: opts.since,
        errors: opts.errors,
        limit: opts.limit,
      });
      const out = opts.json
        ? terminalSafeJson(hits.map(searchHitToJson), 2)
        : searchLines(hits, useAnsi() ? TERMINAL_HIGHLIGHT : PLAIN_HIGHLIGHT, opts.limit).join('\n');
      process.stdout.write(`${out}\n`);
    }),
  );
}
