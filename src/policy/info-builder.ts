/** Collects what one statement touches while a dialect's classifier walks its parse tree. */
import type {
  SettingChange,
  StatementFlag,
  StatementInfo,
  StatementKind,
  TableRef,
} from './classification.js';

/** Shared by the statements of one text: whether any literal value decided the classification. */
export interface LiteralUse {
  used: boolean;
}

export class InfoBuilder {
  readonly reads: TableRef[] = [];
  readonly writes: TableRef[] = [];
  readonly functions = new Set<string>();
  readonly settings: SettingChange[] = [];
  readonly flags = new Set<StatementFlag>();
  hasWhere: boolean | null = null;
  prepare: StatementInfo['prepare'];
  execute: string | undefined;
  deallocate: string | undefined;
  use: string | undefined;

  constructor(
    public kind: StatementKind,
    public command: string,
    readonly literals: LiteralUse,
  ) {}

  table(ref: TableRef, write: boolean): void {
    (write ? this.writes : this.reads).push(ref);
  }

  setting(name: string, value: string | null, scope: SettingChange['scope'] = 'session'): void {
    this.literals.used = true;
    this.settings.push({ name: name.toLowerCase(), value, scope });
  }

  /** Adds what a nested statement (EXPLAIN's, a subquery's) touches. */
  merge(other: StatementInfo): void {
    this.reads.push(...other.reads);
    this.writes.push(...other.writes);
    for (const f of other.functions) this.functions.add(f);
    this.settings.push(...other.settings);
    for (const f of other.flags) this.flags.add(f);
  }

  build(): StatementInfo {
    const info: StatementInfo = {
      kind: this.kind,
      command: this.command,
      reads: this.reads,
      writes: this.writes,
      functions: [...this.functions],
      hasWhere: this.hasWhere,
      settings: this.settings,
      flags: [...this.flags],
    };
    const extra: {
      prepare?: StatementInfo['prepare'];
      execute?: string;
      deallocate?: string;
      use?: string;
    } = {};
    if (this.prepare !== undefined) extra.prepare = this.prepare;
    if (this.execute !== undefined) extra.execute = this.execute;
    if (this.deallocate !== undefined) extra.deallocate = this.deallocate;
    if (this.use !== undefined) extra.use = this.use;
    return Object.keys(extra).length === 0 ? info : { ...info, ...extra };
  }
}
