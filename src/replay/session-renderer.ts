/**
 * Turns a recorded session into the text a database client would have shown, one event at a
 * time, so replay, --follow and the asciicast export share it. What every protocol renders
 * the same way lives here; prompts, results and errors are per client (render-postgres.ts,
 * render-mysql.ts). Every piece of recorded text goes through safeForTerminal; lines end
 * with \n (the asciicast export turns them into CRLF).
 */
import type { SessionEvent } from '../model/session.js';
import type { SessionSummary } from '../store/session-store.js';
import { formatBytes, formatSpan, formatTimestamp, plural } from './format.js';
import { safeForTerminal } from './sanitize.js';

export interface RenderOptions {
  /** Print each statement's duration (psql's \timing). Default true. */
  readonly timing?: boolean;
}

type EventOf<K extends SessionEvent['kind']> = Extract<SessionEvent, { kind: K }>;

/** One line of recorded text: controls, \n and \t shown visibly. */
export function safeLine(s: string): string {
  return safeForTerminal(s, { singleLine: true });
}

/** A parameter as an SQL literal, shortened when huge (replay is for reading, export jsonl keeps it all). */
export function paramLiteral(p: string | null): string {
  if (p === null) return 'NULL';
  const max = 1000;
  const shown = p.length > max ? `${p.slice(0, max)}…` : p;
  const suffix = p.length > max ? ` (${p.length} characters)` : '';
  return `'${safeLine(shown).replaceAll("'", "''")}'${suffix}`;
}

export abstract class SessionRenderer {
  protected readonly user: string;
  protected readonly target: string;
  protected readonly timing: boolean;
  protected lastTag = '';

  constructor(
    protected readonly session: SessionSummary,
    options: RenderOptions = {},
  ) {
    this.user = safeLine(session.user);
    this.target = safeLine(session.target);
    this.timing = options.timing ?? true;
  }

  /** The prompt the next statement is typed at. */
  protected abstract prompt(): string;
  /** The prompt for a statement's second and later lines. */
  protected abstract continuation(): string;
  protected abstract params(params: readonly (string | null)[]): string;
  protected abstract result(e: EventOf<'result'>): string;
  protected abstract error(e: EventOf<'error'>): string;
  protected abstract notice(e: EventOf<'notice'>): string;

  /** Who, where and when, as comment lines. */
  header(): string {
    const s = this.session;
    const from = [`${safeLine(s.clientAddr)}:${s.clientPort}`];
    if (s.application) from.push(safeLine(s.application));
    from.push(s.clientTls ? safeLine(s.clientTls) : 'no TLS');
    const lines = [
      `-- dbtape session ${safeLine(s.id)}: ${this.user}@${this.target} (${s.protocol}), upstream ${safeLine(s.upstreamUser)}@${safeLine(s.upstreamDatabase)}`,
      `-- from ${from.join(', ')}; started ${formatTimestamp(s.startedAtUs)}`,
    ];
    return `${lines.join('\n')}\n`;
  }

  /** The text for one event, '' when it shows nothing. */
  event(e: SessionEvent): string {
    switch (e.kind) {
      case 'start':
        return '';
      case 'query':
        return this.statement(e.sql) + (e.params && e.params.length > 0 ? this.params(e.params) : '');
      case 'result':
        this.lastTag = e.tag;
        return this.result(e);
      case 'error':
        return this.error(e);
      case 'notice':
        return this.notice(e);
      case 'tx':
        return this.tx(e);
      case 'copy':
        return this.copy(e);
      case 'notification':
        return `Asynchronous notification "${safeLine(e.channel)}" with payload "${safeLine(e.payload)}" received.\n`;
      case 'client':
        return `-- client application: ${safeLine(e.application)}\n`;
      case 'command':
        return `-- ${safeLine(e.command)}${e.detail ? `: ${safeLine(e.detail)}` : ''}\n`;
      case 'denied':
        return `${this.statement(e.sql)}ERROR:  ${safeLine(e.message)}\n-- dbtape: denied by policy rule ${safeLine(e.rule)}\n`;
      case 'auth': {
        // What the client was told, as its tool would have shown it.
        const { kind: _, failure, ...told } = e;
        return `-- login refused (${safeLine(failure)})\n${this.error({ ...told, kind: 'error', severity: 'FATAL' })}`;
      }
      case 'gap':
        return `-- dbtape: ${plural(e.lost, 'event')} not recorded here (the store was unavailable or the queue was full)\n`;
      case 'end':
        return `-- session ended: ${safeLine(e.reason)}${e.detail ? ` (${safeLine(e.detail)})` : ''} after ${formatSpan(e.offsetUs)}\n`;
      default:
        return `-- (an event of kind ${safeLine(String((e as { kind: unknown }).kind))} this dbtape cannot show)\n`;
    }
  }

  /** The statement at its prompt, line by line. */
  protected statement(sql: string): string {
    const lines = safeForTerminal(sql).split('\n');
    return `${lines.map((line, i) => (i === 0 ? this.prompt() : this.continuation()) + line).join('\n')}\n`;
  }

  /** Transaction boundaries the statement's own tag does not already show. */
  protected tx(e: EventOf<'tx'>): string {
    const tag = this.lastTag.split(' ')[0] ?? '';
    if (e.state === 'begin' && (tag === 'BEGIN' || tag === 'START')) return '';
    if (e.state === 'commit' && (tag === 'COMMIT' || tag === 'END')) return '';
    if (e.state === 'rollback' && (tag === 'ROLLBACK' || tag === 'ABORT')) return '';
    const words: Record<string, string | undefined> = {
      begin: 'transaction started',
      commit: 'transaction committed',
      rollback: 'transaction rolled back',
      failed: 'transaction failed: statements are ignored until its end',
      recovered: 'transaction recovered: rolled back to a savepoint, statements run again',
      prepared:
        'transaction prepared: not committed until COMMIT PREPARED or XA COMMIT, from any session (ROLLBACK PREPARED or XA ROLLBACK discards it)',
    } satisfies Record<EventOf<'tx'>['state'], string>;
    // A state this dbtape does not know (a newer recording) is shown as it is stored.
    return `-- ${words[e.state] ?? `transaction ${safeLine(String(e.state))}`}\n`;
  }

  protected copy(e: EventOf<'copy'>): string {
    const what = e.direction === 'in' ? 'COPY from the client' : 'COPY to the client';
    return `-- ${what}: ${formatBytes(e.bytes)}${e.rows === null ? '' : `, ${plural(e.rows, 'row')}`}\n`;
  }
}
