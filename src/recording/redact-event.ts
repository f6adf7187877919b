/**
 * Applies redaction to every text field of an event that could carry or echo a secret, with
 * memory per session: the values masked in a statement are masked again when the server's
 * error or notice quotes them ("syntax error at or near ..."), and the outcome message of a
 * statement redacted whole is redacted whole too.
 */
import type { SessionEventBody } from '../model/session.js';
import {
  type Dialect,
  redactMessage,
  redactStatement,
  redactValue,
  type StatementRedaction,
} from './redact.js';
import { isPasswordWord } from './redact-rules.js';
import { looksSecret, MASK } from './redact-text.js';

export const REDACTED_MESSAGE =
  '/* dbtape: message redacted: it answers a statement that may contain a password */';
const MEMORY = 64;

type Body<K extends SessionEventBody['kind']> = Extract<SessionEventBody, { kind: K }>;

export class EventRedactor {
  private secrets: string[] = [];
  /** The last statement was redacted whole: its outcome message may quote it. */
  private wholePending = false;

  constructor(private readonly dialect: Dialect) {}

  /** Returns `body` itself when nothing needed masking (the common case: no allocation). */
  redact(body: SessionEventBody): SessionEventBody {
    switch (body.kind) {
      case 'query':
        return this.query(body);
      case 'denied': {
        const r = redactStatement(body.sql, undefined, this.dialect);
        this.remember(r);
        const message = this.message(body.message);
        return r.sql === body.sql && message === body.message ? body : { ...body, sql: r.sql, message };
      }
      case 'error':
      case 'notice': {
        const message = this.message(body.message);
        if (body.kind === 'error') this.wholePending = false;
        return message === body.message ? body : { ...body, message };
      }
      case 'result':
        this.wholePending = false;
        return body.rowData ? this.rows(body) : body;
      case 'command':
      case 'end':
        return body.detail === undefined || !looksSecret(body.detail)
          ? body
          : { ...body, detail: redactMessage(body.detail, this.secrets) };
      case 'client':
        return this.secrets.length === 0 && !looksSecret(body.application)
          ? body
          : { ...body, application: redactMessage(body.application, this.secrets) };
      case 'notification':
        return looksSecret(body.payload)
          ? { ...body, payload: redactValue(body.payload, this.dialect) }
          : body;
      default:
        return body;
    }
  }

  private query(body: Body<'query'>): SessionEventBody {
    const r = redactStatement(body.sql, body.params, this.dialect);
    this.remember(r);
    if (r.sql === body.sql && r.params === body.params) return body;
    return r.params === undefined ? { ...body, sql: r.sql } : { ...body, sql: r.sql, params: r.params };
  }

  private message(text: string): string {
    if (this.wholePending) return REDACTED_MESSAGE;
    return this.secrets.length === 0 && !looksSecret(text) ? text : redactMessage(text, this.secrets);
  }

  private remember(r: StatementRedaction): void {
    this.wholePending = r.redactedWhole;
    if (r.secrets.length === 0) return;
    const next = [...r.secrets, ...this.secrets].slice(0, MEMORY);
    this.secrets = [...new Set(next)].sort((a, b) => b.length - a.length);
  }

  /** Captured rows: password-named columns are masked, other cells checked for credentials. */
  private rows(body: Body<'result'>): SessionEventBody {
    const secretCols = (body.columns ?? []).map((c) => isPasswordWord(c.name.toLowerCase()));
    let changed = false;
    const rowData = body.rowData!.map((row) => {
      let out: (string | null)[] | null = null;
      for (let i = 0; i < row.length; i++) {
        const v = row[i];
        if (v === null || v === undefined) continue;
        const next = secretCols[i] ? MASK : looksSecret(v) ? redactValue(v, this.dialect) : v;
        if (next !== v) {
          out ??= row.slice();
          out[i] = next;
        }
      }
      if (out) changed = true;
      return out ?? row;
    });
    return changed ? { ...body, rowData } : body;
  }
}
