/**
 * `dbtape replay ID`: play a session back as its client showed it, with the recorded pauses
 * (--speed N to go faster, --instant for none); --follow attaches to a session still recording.
 */
import { type Command, InvalidArgumentError, Option } from 'commander';
import { playSession } from '../../replay/player.js';
import { streamSink } from '../../replay/sink.js';
import { addStoreOptions, findSession, parseSpanUs, type StoreOptions, withStore } from '../store-option.js';

interface ReplayOptions extends StoreOptions {
  readonly speed: number;
  readonly instant?: boolean;
  readonly follow?: boolean;
  readonly maxPause?: number;
  readonly timing: boolean;
}

function parseSpeed(value: string): number {
  const n = Number(value);
  if (!Number.isFinite(n) || n <= 0 || n > 1_000_000)
    throw new InvalidArgumentError('expected a number greater than 0, such as 0.5, 2 or 10.');
  return n;
}

function parsePause(value: string): number {
  const us = parseSpanUs(value);
  if (us === null || us <= 0) throw new InvalidArgumentError('expected a span such as 500ms, 2s or 1m.');
  return us;
}

export function registerReplay(program: Command): void {
  const cmd = program
    .command('replay')
    .description('play a session back in the terminal, psql/mysql-like, with its original timing')
    .argument('<id>', 'session id, or a unique prefix of it')
    .addOption(
      new Option('--speed <n>', 'play N times faster (0.5 = half speed)')
        .argParser(parseSpeed)
        .default(1)
        .conflicts('instant'),
    )
    .option('--instant', 'print everything at once, without the recorded pauses')
    .option('--max-pause <span>', 'shorten longer idle gaps to this (e.g. 2s)', parsePause)
    .option(
      '--follow',
      'attach to a session still being recorded: show it so far, then new events as they come',
    )
    .option('--no-timing', "leave out each statement's duration (psql's Time: lines)");
  addStoreOptions(cmd).action((id: string, opts: ReplayOptions) =>
    withStore(opts, async (store) => {
      const session = await findSession(store, id);
      await playSession(store, session, streamSink(process.stdout), {
        speed: opts.speed,
        instant: opts.instant,
        maxPauseUs: opts.maxPause,
        follow: opts.follow,
        timing: opts.timing,
      });
    }),
  );
}
