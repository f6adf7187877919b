/**
 * `dbtape user hash`: read a password on stdin and print the one line to put in users[].password.
 * On a terminal it prompts twice without echo; otherwise it reads all of stdin (one trailing newline
 * is dropped), so `printf %s "$PW" | dbtape user hash` and `dbtape user hash < file` both work.
 */
import { type Command, InvalidArgumentError } from 'commander';
import { hashPassword } from '../../config/verifiers.js';
import { CliError } from '../output.js';
import { promptHidden, readAll } from '../password-input.js';

export function registerUserHash(program: Command): void {
  const user =
    program.commands.find((c) => c.name() === 'user') ??
    program.command('user').description('manage dbtape users (see users: in the config)');
  user
    .command('hash')
    .description(
      'read a password on stdin and print the value for users[].password (verifiers for both protocols)',
    )
    .option('--iterations <n>', 'SCRAM iteration count', parseIterations, 4096)
    .action(async (opts: { iterations: number }) => {
      const password = process.stdin.isTTY ? await promptTwice() : await readAll(process.stdin);
      if (password.length === 0) throw new CliError('empty password refused');
      process.stdout.write(`${hashPassword(password, { iterations: opts.iterations })}\n`);
    });
}

function parseIterations(value: string): number {
  const n = Number(value);
  if (!/^[0-9]+$/.test(value) || n < 1 || n > 1_000_000) {
    throw new InvalidArgumentError('expected a whole number from 1 to 1000000.');
  }
  return n;
}

async function promptTwice(): Promise<string> {
  const first = await promptHidden('Password: ');
  if (first.length === 0) throw new CliError('empty password refused');
  const second = await promptHidden('Again: ');
  if (first !== second) throw new CliError('the passwords do not match');
  return first;
}
