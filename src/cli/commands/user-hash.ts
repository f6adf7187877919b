/**
 * `dbtape user hash`: read a password on stdin and print the one line to put in users[].password.
 * On a terminal it prompts twice without echo; otherwise it reads all of stdin (one trailing newline
 * is dropped), so `printf %s "$PW" | dbtape user hash` and `dbtape user hash < file` both work.
 */
import { type Command, InvalidArgumentError } from 'commander';
import { hashPassword } from '../../config/verifiers.js';
import { CliError } from '../output.js';

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

async function readAll(input: NodeJS.ReadableStream): Promise<string> {
  const chunks: Buffer[] = [];
  for await (const chunk of input) chunks.push(typeof chunk === 'string' ? Buffer.from(chunk) : chunk);
  let text: string;
  try {
    text = new TextDecoder('utf-8', { fatal: true }).decode(Buffer.concat(chunks));
  } catch {
    throw new CliError('the password on stdin is not valid UTF-8');
  }
  return text.replace(/\r?\n$/, '');
}

async function promptTwice(): Promise<string> {
  const first = await promptHidden('Password: ');
  if (first.length === 0) throw new CliError('empty password refused');
  const second = await promptHidden('Again: ');
  if (first !== second) throw new CliError('the passwords do not match');
  return first;
}

/** Read one line from the terminal in raw mode, echoing nothing. Prompts go to stderr, not stdout. */
function promptHidden(prompt: string): Promise<string> {
  const input = process.stdin;
  process.stderr.write(prompt);
  input.setRawMode(true);
  input.setEncoding('utf8');
  input.resume();
  return new Promise((resolve, reject) => {
    let value = '';
    let inEscape = false;
    const finish = (err: Error | null) => {
      input.off('data', onData);
      input.setRawMode(false);
      input.pause();
      process.stderr.write('\n');
      if (err) reject(err);
      else resolve(value);
    };
    const onData = (chunk: string) => {
      for (const ch of chunk) {
        if (inEscape) {
          // Skip terminal escape sequences (arrow keys and the like) up to their final byte.
          if (/[A-Za-z~]/.test(ch)) inEscape = false;
        } else if (ch === '\r' || ch === '\n') return finish(null);
        else if (ch === '\u0003' || (ch === '\u0004' && value === ''))
          return finish(new CliError('cancelled', 130));
        else if (ch === '\u007f' || ch === '\b') value = Array.from(value).slice(0, -1).join('');
        else if (ch === '\u0015') value = '';
        else if (ch === '\u001b') inEscape = true;
        else if (ch >= ' ') value += ch;
      }
    };
    input.on('data', onData);
  });
}
