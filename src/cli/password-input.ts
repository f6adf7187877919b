/**
 * Reading a password for a CLI command: from the terminal without echo, or all of stdin when it
 * is not a terminal (so scripts can pipe it in). Never from an argument, which `ps` would show.
 */
import { CliError } from './output.js';

/** A password from the terminal (prompted, no echo) or, when stdin is not a terminal, all of stdin. */
export function readPassword(prompt = 'Password: '): Promise<string> {
  return process.stdin.isTTY ? promptHidden(prompt) : readAll(process.stdin);
}

/** All of `input` as UTF-8, one trailing newline dropped. */
export async function readAll(input: NodeJS.ReadableStream): Promise<string> {
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

/** Read one line from the terminal in raw mode, echoing nothing. Prompts go to stderr, not stdout. */
export function promptHidden(prompt: string): Promise<string> {
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
