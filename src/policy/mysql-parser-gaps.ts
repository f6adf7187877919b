import { lex } from './sql-lexer.js';

/**
 * Forms the server accepts that node-sql-parser's MySQL and MariaDB grammars reject, rewritten to
 * an equivalent they read, for classification only (the server still gets the text as sent).
 *
 * `SIGNED INT`, `SIGNED INTEGER`, `UNSIGNED INT` and `UNSIGNED INTEGER` as a CAST or CONVERT
 * target mean `SIGNED` / `UNSIGNED` (MySQL manual, "Cast Functions and Operators"); the grammars
 * take some of these spellings and not others (`CONVERT(x, UNSIGNED INTEGER)` fails), and MariaDB
 * Connector/J's `getColumns()` query, which DBeaver runs for every table, uses that one. The `INT`
 * word is blanked, keeping every other offset.
 *
 * Returns null when nothing is rewritten.
 */
export function withoutSignedIntWords(code: string): string | null {
  if (!/signed\s+int/i.test(code)) return null;
  const lexed = lex(code, 'mysql');
  if (!lexed.ok) return null;
  const words = lexed.tokens.filter((t) => t.kind !== 'space' && t.kind !== 'comment');
  let out = code;
  let changed = false;
  for (let i = 1; i < words.length; i++) {
    const prev = words[i - 1]!;
    const t = words[i]!;
    if (prev.kind !== 'word' || t.kind !== 'word') continue;
    const sign = code.slice(prev.start, prev.end).toLowerCase();
    const type = code.slice(t.start, t.end).toLowerCase();
    if ((sign === 'signed' || sign === 'unsigned') && (type === 'int' || type === 'integer')) {
      out = `${out.slice(0, t.start)}${' '.repeat(t.end - t.start)}${out.slice(t.end)}`;
      changed = true;
    }
  }
  return changed ? out : null;
}
