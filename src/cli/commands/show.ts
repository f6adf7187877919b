/** `dbtape show ID`: one session's metadata and its statements with their outcomes. */
import type { Command } from 'commander';
import { writeShowJson } from '../../replay/show-json.js';
import { writeShow } from '../../replay/show-text.js';
import { streamSink } from '../../replay/sink.js';
import { addStoreOptions, findSession, nowUs, type StoreOptions, withStore } from '../store-option.js';

interface ShowOptions extends StoreOptions {
  readonly json?: boolean;
}

export function registerShow(program: Command): void {
  const cmd = program
    .command('show')
    .description('one session: its metadata and its statements with their outcomes')
    .argument('<id>', 'session id, or a unique prefix of it')
    .option('--json', 'print {session, events} (the stable shape of shared/SPEC.md)');
  addStoreOptions(cmd).action((id: string, opts: ShowOptions) =>
    withStore(opts, async (store) => {
      const session = await findSession(store, id);
      const sink = streamSink(process.stdout);
      if (opts.json) await writeShowJson(store, session, sink);
      else await writeShow(store, session, sink, nowUs());
    }),
  );
}
