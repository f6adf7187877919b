/**
 * `dbtape export ID --format jsonl|asciicast|html [-o FILE]`. A file is written under a temporary
 * name and renamed when complete, so a failed export never leaves half a file under the real name.
 * A progress bar shows on stderr when it is a terminal.
 */
import { createWriteStream, renameSync, rmSync } from 'node:fs';
import { type Command, Option } from 'commander';
import { exportAsciicast } from '../../replay/export-asciicast.js';
import { exportHtml } from '../../replay/export-html.js';
import { exportJsonl } from '../../replay/export-jsonl.js';
import { createProgress, type Progress } from '../../replay/progress.js';
import { safeLine } from '../../replay/session-renderer.js';
import { streamSink, type TextSink } from '../../replay/sink.js';
import type { SessionStore, SessionSummary } from '../../store/session-store.js';
import { CliError } from '../output.js';
import { addStoreOptions, findSession, type StoreOptions, withStore } from '../store-option.js';

type Format = 'jsonl' | 'asciicast' | 'html';

interface ExportOptions extends StoreOptions {
  readonly format: Format;
  readonly output?: string;
}

type Exporter = (store: SessionStore, s: SessionSummary, sink: TextSink, p: Progress) => Promise<void>;

/** Each format's writer and how many times it reads the session's events. */
const FORMATS: Record<Format, { run: Exporter; passes: number }> = {
  jsonl: { run: exportJsonl, passes: 1 },
  asciicast: { run: exportAsciicast, passes: 2 },
  html: { run: exportHtml, passes: 1 },
};

export function registerExport(program: Command): void {
  const cmd = program
    .command('export')
    .description(
      'export a session: jsonl (first line the session, then one event per line), asciicast (asciinema v2), html',
    )
    .argument('<id>', 'session id, or a unique prefix of it')
    .addOption(
      new Option('--format <format>', 'output format')
        .choices(['jsonl', 'asciicast', 'html'])
        .makeOptionMandatory(),
    )
    .option('-o, --output <file>', 'write to this file instead of stdout');
  addStoreOptions(cmd).action((id: string, opts: ExportOptions) =>
    withStore(opts, async (store) => {
      const session = await findSession(store, id);
      const format = FORMATS[opts.format];
      const progress = createProgress({
        label: `exporting ${safeLine(session.id)}`,
        total: session.events * format.passes,
      });
      try {
        if (opts.output) await toFile(opts.output, (sink) => format.run(store, session, sink, progress));
        else await format.run(store, session, streamSink(process.stdout), progress);
      } finally {
        progress.done();
      }
    }),
  );
}

async function toFile(file: string, write: (sink: TextSink) => Promise<void>): Promise<void> {
  const temp = `${file}.partial-${process.pid}`;
  // Readable by its owner only, like the store it comes from: it holds statements and rows.
  const stream = createWriteStream(temp, { flags: 'wx', mode: 0o600 });
  try {
    await write(streamSink(stream, { endStream: true }));
    renameSync(temp, file);
  } catch (err) {
    stream.destroy();
    rmSync(temp, { force: true });
    const code = (err as NodeJS.ErrnoException).code;
    if (code && (err as NodeJS.ErrnoException).syscall) throw new CliError(`cannot write ${file}: ${code}`);
    throw err;
  }
}
