/**
 * Large `INSERT INTO name [(columns)] VALUES (...), (...)` texts whose values are all literals (dumps,
 * batch loaders) are recognised from tokens: parsing a 1 MiB statement takes the real parsers close to
 * a second, during which the proxy could serve nothing else. The grammar accepted here has no
 * expressions at all, so the tokens say everything the parse tree would: one table written, no
 * function called. Anything else goes to the parser as usual.
 */
import type { StatementInfo, TableRef } from './classification.js';
import { type Dialect, type LexKind, lexEach } from './sql-lexer.js';

/** Below this, the real parser is fast enough. */
export const BULK_INSERT_MIN_LENGTH = 8 * 1024;

const VALUE_WORDS = new Set(['null', 'true', 'false', 'default']);

type State =
  | 'insert'
  | 'into'
  | 'table'
  | 'afterTable'
  | 'tablePart2'
  | 'afterTable2'
  | 'column'
  | 'afterColumn'
  | 'values'
  | 'rowOpen'
  | 'value'
  | 'afterSign'
  | 'afterValue'
  | 'afterRow'
  | 'end';

export function bulkInsert(code: string, dialect: Dialect): StatementInfo | null {
  let state: State = 'insert';
  const parts: string[] = [];
  const word = (start: number, end: number) => code.slice(start, end).toLowerCase();
  const name = (kind: LexKind, start: number, end: number): string | null => {
    if (kind === 'word') return word(start, end);
    if (kind !== 'qident') return null;
    const q = code[start]!;
    const inner = code.slice(start + 1, end - 1).replaceAll(q + q, q);
    return dialect === 'mysql' ? inner.toLowerCase() : inner;
  };
  // One step of a small state machine per token; false stops the scan (not a bulk insert).
  const step = (kind: LexKind, start: number, end: number): boolean => {
    if (kind === 'space' || kind === 'comment') return true;
    const op = kind === 'op' ? code[start] : '';
    switch (state) {
      case 'insert':
        state = 'into';
        return kind === 'word' && word(start, end) === 'insert';
      case 'into':
        state = 'table';
        return kind === 'word' && word(start, end) === 'into';
      case 'table':
      case 'tablePart2': {
        const n = name(kind, start, end);
        if (n === null) return false;
        parts.push(n);
        state = state === 'table' ? 'afterTable' : 'afterTable2';
        return true;
      }
      case 'afterTable':
        if (op === '.') {
          state = 'tablePart2';
          return true;
        }
        return afterTable(kind, start, end, op);
      case 'afterTable2':
        return afterTable(kind, start, end, op);
      case 'column':
        state = 'afterColumn';
        return kind === 'word' || kind === 'qident';
      case 'afterColumn':
        state = op === ',' ? 'column' : 'values';
        return op === ',' || op === ')';
      case 'values':
        state = 'rowOpen';
        return kind === 'word' && word(start, end) === 'values';
      case 'rowOpen':
        state = 'value';
        return op === '(';
      case 'value':
        if (op === '-' || op === '+') {
          state = 'afterSign';
          return true;
        }
        state = 'afterValue';
        return (
          kind === 'string' || kind === 'number' || (kind === 'word' && VALUE_WORDS.has(word(start, end)))
        );
      case 'afterSign':
        state = 'afterValue';
        return kind === 'number';
      case 'afterValue':
        state = op === ',' ? 'value' : 'afterRow';
        return op === ',' || op === ')';
      case 'afterRow':
        if (kind === 'semi') {
          state = 'end';
          return true;
        }
        state = 'rowOpen';
        return op === ',';
      case 'end':
        return kind === 'semi';
    }
  };
  const afterTable = (kind: LexKind, start: number, end: number, op: string | undefined): boolean => {
    if (op === '(') {
      state = 'column';
      return true;
    }
    state = 'rowOpen';
    return kind === 'word' && word(start, end) === 'values';
  };
  const complete = lexEach(code, dialect, step);
  // `state` is changed by the callbacks, which TypeScript's narrowing does not see.
  const final = state as State;
  if (!complete || (final !== 'afterRow' && final !== 'end')) return null;
  const lower = (n: string) => (dialect === 'mysql' ? n.toLowerCase() : n);
  const table: TableRef =
    parts.length === 2
      ? { schema: lower(parts[0]!), name: lower(parts[1]!) }
      : { schema: null, name: lower(parts[0]!) };
  return {
    kind: 'insert',
    command: 'insert',
    reads: [],
    writes: [table],
    functions: [],
    hasWhere: null,
    settings: [],
    flags: [],
  };
}
