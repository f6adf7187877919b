/**
 * The name each result of one command is recorded under (its statement's first keyword: SELECT,
 * UPDATE, ROLLBACK...). A multi-statement text gives one result per statement; clients such as
 * Connector/J send the next command before the last one's response, so the names belong to the
 * command (its Pending entry), never to "the last statement sent".
 */
export class ResultTags {
  private readonly verbs: readonly string[];
  private index = 0;

  /** `sql`: the command's text. */
  constructor(sql: string) {
    // Good enough for names: a `;` inside a string literal only shifts the names of later results.
    this.verbs = sql.includes(';')
      ? sql
          .split(';')
          .map(verbOf)
          .filter((v) => v !== '')
      : [verbOf(sql)];
  }

  /** The name of the next result ('' when its statement has none). */
  next(): string {
    // More results than statements: a CALL's (each named CALL), or a shifted name.
    const verb = this.verbs[this.index] ?? this.verbs[this.verbs.length - 1] ?? '';
    this.index++;
    return verb;
  }
}

/** The statement's first keyword, upper-cased ('' when there is none), for the result tag. */
export function verbOf(sql: string): string {
  const m = /^(?:\s+|\/\*(?:[^*]|\*(?!\/))*\*\/|(?:--\s|#)[^\n]*(?:\n|$)|\()*([A-Za-z]+)/.exec(sql);
  return m ? m[1].toUpperCase() : '';
}
