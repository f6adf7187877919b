/**
 * The policy engine for one user on one target: `decide(sql)` allows a text only if every statement
 * in it is allowed. With several roles granting the target, roles are alternatives (as for `access`
 * in access.ts): a text is allowed when any one role allows all of it; the denial shown is that of
 * the role with the strongest access.
 */
import type { AccessLevel, Role } from '../model/identity.js';
import type { Grant } from './access.js';
import type { Classification, SettingChange, StatementFlag } from './classification.js';
import { type ClassifyOptions, classify } from './classify.js';
import { RANK } from './effects.js';
import { FAST_PATH_FUNCTIONS } from './function-rules.js';
import { MaskingRules } from './masking.js';
import { type Denial, type PreparedNames, RolePolicy } from './role-policy.js';
import type { Dialect } from './sql-lexer.js';

/** Stable code on every denial; the proxy answers with SQLSTATE 42501 / MySQL error 1142. */
export const POLICY_DENIED = 'DBTAPE_POLICY_DENIED';

export type Decision =
  | { readonly allow: true }
  | {
      readonly allow: false;
      readonly code: typeof POLICY_DENIED;
      /** `access=read`, `access=write`, `deny_kinds`, `deny_tables`, `allow_tables`, `require_where`, `deny_functions`, `fail_closed`. */
      readonly rule: string;
      /** `dbtape: denied by rule access=read: UPDATE changes data` */
      readonly message: string;
      /** Which statement of a multi-statement text (0-based). */
      readonly statementIndex: number;
    };

const ALLOW: Decision = { allow: true };
const NO_BACKSLASH_ESCAPES: ClassifyOptions = { noBackslashEscapes: true };

export interface EngineRole {
  readonly name: string;
  readonly access: AccessLevel;
  readonly rules?: Role['rules'];
  readonly masking?: Role['masking'];
}

export class PolicyEngine {
  /** Nothing to check: admin access without statement rules on some granting role. */
  readonly unrestricted: boolean;
  /** Row cap for results; null: none. */
  readonly maxRows: number | null;
  /** Null: results pass unchanged (no cost). */
  readonly masking: MaskingRules | null;
  private readonly policies: RolePolicy[];
  private readonly copyOutDenied: boolean;
  private readonly decisions = new WeakMap<Classification, Decision>();

  constructor(
    readonly dialect: Dialect,
    roles: readonly EngineRole[],
    /** Where unqualified table names resolve: `public` (PostgreSQL) or the target's database (MySQL). */
    defaultSchema: string,
  ) {
    const sorted = [...roles].sort((a, b) => RANK[b.access] - RANK[a.access]);
    this.policies = sorted.map(
      (r) => new RolePolicy(r.access, r.rules, dialect, defaultSchema.toLowerCase()),
    );
    const caps = roles.map((r) => r.rules?.maxRows ?? null);
    this.maxRows = caps.length === 0 || caps.includes(null) ? null : Math.max(...(caps as number[]));
    this.masking = MaskingRules.forRoles(roles.map((r) => r.masking));
    // COPY ... TO STDOUT sends rows as CopyData, which masking does not rewrite: with masking every
    // PostgreSQL text is read, even an admin's, so that no COPY carries clear values out.
    this.copyOutDenied = this.masking !== null && dialect === 'postgres';
    this.unrestricted = !this.copyOutDenied && this.policies.some((p) => !p.restricted);
  }

  /** The engine for a user's grant (access.ts `grantFor`), built from the roles that grant it. */
  static forGrant(grant: Grant, roles: readonly Role[]): PolicyEngine {
    const granting = roles.filter(
      (r) => grant.roles.includes(r.name) && r.targets.includes(grant.target.name),
    );
    const dialect: Dialect = grant.target.protocol;
    const defaultSchema = dialect === 'postgres' ? 'public' : grant.target.database;
    return new PolicyEngine(dialect, granting, defaultSchema);
  }

  /** One client connection's policy state (prepared statement names). */
  openSession(): PolicySession {
    return new PolicySession(this);
  }

  /** Decides a text of one or more statements. Without a session, every EXECUTE of a name is unknown. */
  decide(sql: string, session?: PolicySession): Decision {
    if (this.unrestricted) return ALLOW;
    const c = classify(sql, this.dialect, session?.noBackslashEscapes ? NO_BACKSLASH_ESCAPES : undefined);
    if (session)
      session.lastWasOneSelect = c.parsed && c.statements.length === 1 && isPlainSelect(c.statements[0]!);
    // Only decisions of stateless texts are kept, so a hit needs no further look.
    const cached = this.decisions.get(c);
    if (cached) return cached;
    if (!c.parsed) {
      return deny(
        {
          rule: 'fail_closed',
          why: `the statement could not be parsed (${c.reason}), so it cannot be checked`,
        },
        0,
      );
    }
    const stateful = c.statements.some(
      (s) =>
        s.execute !== undefined ||
        s.prepare !== undefined ||
        s.deallocate !== undefined ||
        s.command === 'discard',
    );
    const d = this.copyOut(c) ?? this.evaluate(c, session);
    if (!stateful) this.decisions.set(c, d);
    else if (d.allow && session) session.apply(c);
    return d;
  }

  /**
   * Settings a client gives at login (startup-params.ts `startupSettings`): allowed when one
   * granting role allows them all, as a text of SET statements would be. Every role's login
   * carries some (client_encoding, application_name...), so `deny_kinds: [set]` does not apply.
   */
  decideStartupSettings(settings: readonly SettingChange[]): Decision {
    if (this.unrestricted || settings.length === 0) return ALLOW;
    let first: Decision | null = null;
    for (const policy of this.policies) {
      const denial = settings.map((s) => policy.checkStartupSetting(s)).find((d) => d !== null);
      if (!denial) return ALLOW;
      first ??= deny({ rule: denial.rule, why: `at login: ${denial.why}` }, 0);
    }
    return first ?? deny({ rule: 'fail_closed', why: 'no role grants this target' }, 0);
  }

  /** PostgreSQL FunctionCall ('F'): a function by OID. Only the large-object API's are known. */
  decideFunctionCall(oid: number): Decision {
    if (this.unrestricted) return ALLOW;
    const known = FAST_PATH_FUNCTIONS.get(oid);
    if (known && this.policies.some((p) => RANK[p.access] >= RANK[known.level])) return ALLOW;
    if (known) {
      const access = this.policies[0]?.access ?? 'read';
      return deny({ rule: `access=${access}`, why: `${known.name}() changes a large object` }, 0);
    }
    return deny({ rule: 'fail_closed', why: `a fast-path call of function OID ${oid} cannot be checked` }, 0);
  }

  /** With masking: the denial of a COPY that would send rows to the client, or null. */
  private copyOut(c: Extract<Classification, { parsed: true }>): Decision | null {
    if (!this.copyOutDenied) return null;
    const i = c.statements.findIndex((s) => s.kind === 'copy' && !s.flags.some((f) => COPY_ELSEWHERE.has(f)));
    if (i < 0) return null;
    return deny(
      {
        rule: 'masking',
        why: 'COPY ... TO STDOUT sends rows that dbtape cannot mask; read them with SELECT (pg_dump: --inserts)',
      },
      i,
    );
  }

  private evaluate(
    c: Extract<Classification, { parsed: true }>,
    prepared: PreparedNames | undefined,
  ): Decision {
    let first: Decision | null = null;
    for (const policy of this.policies) {
      const d = evaluateRole(policy, c, prepared);
      if (d.allow) return d;
      first ??= d;
    }
    return first ?? deny({ rule: 'fail_closed', why: 'no role grants this target' }, 0);
  }
}

/** COPY forms that send no rows to the client (from it, or to or from the server's files or programs). */
const COPY_ELSEWHERE = new Set<StatementFlag>([
  'client-data-in',
  'server-file-read',
  'server-file-write',
  'copy-program',
]);

function evaluateRole(
  policy: RolePolicy,
  c: Extract<Classification, { parsed: true }>,
  prepared: PreparedNames | undefined,
): Decision {
  // EXECUTE may name a statement PREPAREd earlier in the same text.
  const local = new Set<string>();
  const names: PreparedNames = { has: (n) => local.has(n) || prepared?.has(n) === true };
  for (let i = 0; i < c.statements.length; i++) {
    const s = c.statements[i]!;
    const denial = policy.check(s, names);
    if (denial) return deny(denial, i);
    if (s.prepare) local.add(s.prepare.name);
  }
  return ALLOW;
}

/** A SELECT (VALUES, TABLE, WITH ... SELECT), not FETCH, DECLARE or SELECT INTO. */
function isPlainSelect(s: { readonly kind: string; readonly command: string }): boolean {
  return s.kind === 'select' && s.command === 'select';
}

function deny(d: Denial, statementIndex: number): Decision {
  return {
    allow: false,
    code: POLICY_DENIED,
    rule: d.rule,
    message: `dbtape: denied by rule ${d.rule}: ${d.why}`,
    statementIndex,
  };
}

/** Per-connection state: which prepared statement names hold text the policy allowed. */
export class PolicySession implements PreparedNames {
  /**
   * MySQL: the server reports NO_BACKSLASH_ESCAPES (status flag 0x0200 in OK packets); set it so that
   * texts with backslashes fail closed instead of being read differently.
   */
  noBackslashEscapes = false;
  /**
   * Whether the text last decided was a single plain SELECT (the proxy may then stop it early once
   * `max_rows` is reached: nothing else in the text would be cut short).
   */
  lastWasOneSelect = false;
  private readonly prepared = new Set<string>();

  constructor(readonly engine: PolicyEngine) {}

  decide(sql: string): Decision {
    return this.engine.decide(sql, this);
  }

  /**
   * A protocol-level prepare (PostgreSQL Parse, MySQL COM_STMT_PREPARE): decides its text now, since
   * Bind/Execute carry only parameters. Pass the name for PostgreSQL named statements: SQL EXECUTE
   * may run them later.
   */
  decidePrepare(sql: string, name?: string): Decision {
    const d = this.decide(sql);
    if (d.allow && name) this.prepared.add(this.norm(name));
    return d;
  }

  decideFunctionCall(oid: number): Decision {
    return this.engine.decideFunctionCall(oid);
  }

  /** PostgreSQL Close of a named statement / MySQL COM_STMT_CLOSE does not need this; SQL DEALLOCATE is tracked. */
  forgetPrepared(name: string): void {
    this.prepared.delete(this.norm(name));
  }

  has(name: string): boolean {
    return this.prepared.has(this.norm(name));
  }

  /** Records what an allowed text did to prepared names. */
  apply(c: Extract<Classification, { parsed: true }>): void {
    for (const s of c.statements) {
      if (s.prepare) this.prepared.add(this.norm(s.prepare.name));
      else if (s.deallocate === '*' || s.command === 'discard') this.prepared.clear();
      else if (s.deallocate !== undefined) this.prepared.delete(this.norm(s.deallocate));
    }
  }

  /** MySQL prepared statement names are case-insensitive; PostgreSQL's parser already folded them. */
  private norm(name: string): string {
    return this.engine.dialect === 'mysql' ? name.toLowerCase() : name;
  }
}
