/**
 * A small SQL tokenizer for highlighting only (it never decides anything): comments, strings
 * ('…', E'…', $tag$…$tag$, MySQL "…" and `…`), numbers, parameters ($1, ?, :name), keywords.
 * Unterminated constructs run to the end of the text, so every character lands in some token.
 */
export type TokenType = 'keyword' | 'string' | 'number' | 'comment' | 'ident' | 'param' | 'op' | 'text';

export interface Token {
  readonly type: TokenType;
  readonly text: string;
}

const KEYWORDS = new Set(
  `select from where and or not in is null like ilike between exists as on join left right full inner outer cross
  natural using group by order having limit offset fetch first next rows only union all intersect except distinct
  insert into values update set delete returning create table view index unique primary key foreign references
  drop alter add column constraint default check if cascade restrict truncate begin commit rollback savepoint
  release start transaction isolation level read write committed repeatable serializable with recursive case when
  then else end cast true false asc desc nulls grant revoke to copy explain analyze verbose vacuum show use
  database schema sequence function procedure returns language trigger do declare execute prepare deallocate
  listen notify lock for of nowait skip locked share window over partition lateral any some array interval`
    .split(/\s+/)
    .filter(Boolean),
);

const RULES: readonly [TokenType, RegExp][] = [
  ['comment', /--[^\n]*|\/\*[\s\S]*?(?:\*\/|$)/y],
  ['string', /[eE]'(?:[^'\\]|\\[\s\S]|'')*(?:'|$)|'(?:[^']|'')*(?:'|$)/y],
  ['string', /\$([A-Za-z_]\w*)?\$[\s\S]*?(?:\$\1\$|$)/y],
  ['param', /\$\d+|\?|(?<![:\w]):[A-Za-z_]\w*/y],
  ['ident', /"(?:[^"]|"")*(?:"|$)|`(?:[^`]|``)*(?:`|$)/y],
  ['number', /(?:\d+\.?\d*|\.\d+)(?:[eE][+-]?\d+)?\b/y],
  ['text', /[A-Za-z_\u0080-\uffff][\w$\u0080-\uffff]*/y],
  ['op', /::|<>|<=|>=|!=|\|\||[-+*/%=<>!~^&|]/y],
];

export function tokenizeSql(sql: string): Token[] {
  const out: Token[] = [];
  let i = 0;
  let plain = '';
  const flush = () => {
    if (plain) out.push({ type: 'text', text: plain });
    plain = '';
  };
  outer: while (i < sql.length) {
    for (const [type, re] of RULES) {
      re.lastIndex = i;
      const m = re.exec(sql);
      if (!m || m[0].length === 0) continue;
      const text = m[0];
      if (type === 'text' && !KEYWORDS.has(text.toLowerCase())) {
        plain += text;
      } else {
        flush();
        out.push({ type: type === 'text' ? 'keyword' : type, text });
      }
      i += text.length;
      continue outer;
    }
    plain += sql[i];
    i++;
  }
  flush();
  return out;
}
