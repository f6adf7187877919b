/**
 * The `dbtape` command line. Each command lives in commands/<name>.ts and exports a function that
 * registers it on the program, so commands are added without touching the others.
 * Exit codes: 0 success, 1 failure, 2 usage error (unknown command or option, bad argument).
 */
import { readFileSync } from 'node:fs';
import { Command, CommanderError } from 'commander';
import { dbtapeMessage } from '../model/dbtape-message.js';
import { StoreError } from '../store/errors.js';
import { registerCheckConfig } from './commands/check-config.js';
import { registerDemo } from './commands/demo.js';
import { registerExport } from './commands/export.js';
import { registerKeys } from './commands/keys.js';
import { registerKill } from './commands/kill.js';
import { registerReplay } from './commands/replay.js';
import { registerSearch } from './commands/search.js';
import { registerServe } from './commands/serve.js';
import { registerSessions } from './commands/sessions.js';
import { registerShow } from './commands/show.js';
import { registerTokens } from './commands/tokens.js';
import { registerUserHash } from './commands/user-hash.js';
import { registerVerify } from './commands/verify.js';
import { CliError } from './output.js';

const USAGE_ERROR = 2;

function packageVersion(): string {
  // Same relative place from src/cli (tsx) and dist/cli (built).
  const pkg = JSON.parse(readFileSync(new URL('../../package.json', import.meta.url), 'utf8')) as {
    version: string;
  };
  return pkg.version;
}

export function createProgram(): Command {
  const program = new Command('dbtape')
    .description('Database access proxy with session recording and replay, for PostgreSQL and MySQL/MariaDB')
    .version(packageVersion(), '-V, --version')
    .showHelpAfterError('(run with --help for usage)')
    // Throw instead of exiting, so main decides exit codes; subcommands inherit this when created.
    .exitOverride();
  registerServe(program);
  registerDemo(program);
  registerUserHash(program);
  registerCheckConfig(program);
  registerSessions(program);
  registerShow(program);
  registerReplay(program);
  registerSearch(program);
  registerExport(program);
  registerVerify(program);
  registerKeys(program);
  registerKill(program);
  registerTokens(program);
  return program;
}

export async function main(argv: string[]): Promise<void> {
  try {
    await createProgram().parseAsync(argv);
  } catch (err) {
    process.exitCode = report(err);
  }
}

/** Print what went wrong (commander has already printed its own usage errors); return the exit code. */
function report(err: unknown): number {
  if (err instanceof CommanderError) return err.exitCode === 0 ? 0 : USAGE_ERROR;
  const message = err instanceof Error ? err.message : String(err);
  // One line per problem (a ConfigError holds several), each marked as dbtape's.
  for (const line of message.split('\n')) {
    process.stderr.write(`${dbtapeMessage(line)}\n`);
  }
  if (err instanceof CliError) return err.exitCode;
  // What was asked cannot be searched (no word in it): the command line is wrong, not the store.
  if (err instanceof StoreError && err.code === 'DBTAPE_STORE_BAD_QUERY') return USAGE_ERROR;
  if (process.env.DBTAPE_DEBUG && err instanceof Error && err.stack) process.stderr.write(`${err.stack}\n`);
  return 1;
}
