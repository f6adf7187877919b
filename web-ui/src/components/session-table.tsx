/** The session list's table; a row opens the player, live sessions are marked. */
import { formatDurationMs, formatTime, parseIso } from '../format';
import { linkClick, navigate } from '../router';
import { safeLine } from '../safe-text';
import type { SessionJson } from '../types';

export function SessionTable({ sessions, loading }: { sessions: SessionJson[]; loading: boolean }) {
  if (!loading && sessions.length === 0) {
    return (
      <section class="card empty" data-testid="sessions-empty">
        No sessions match. Connect through dbtape and they appear here as they start.
      </section>
    );
  }
  return (
    <section class="card table-card">
      <table class="sessions" data-testid="sessions-table">
        <thead>
          <tr>
            <th />
            <th>Started</th>
            <th>User</th>
            <th>Target</th>
            <th>Client</th>
            <th>Application</th>
            <th class="num">Duration</th>
            <th class="num">Statements</th>
            <th class="num">Errors</th>
          </tr>
        </thead>
        <tbody>
          {sessions.map((s) => (
            <SessionRow key={s.id} s={s} />
          ))}
        </tbody>
      </table>
    </section>
  );
}

function SessionRow({ s }: { s: SessionJson }) {
  const href = `/sessions/${encodeURIComponent(s.id)}`;
  const end = s.ended_at ? parseIso(s.ended_at) : Date.now();
  const open = (e: MouseEvent) => {
    if ((e.target as HTMLElement).closest('a')) return;
    navigate(href);
  };
  return (
    <tr class={`session-row ${s.status}`} data-testid="session-row" data-session-id={s.id} onClick={open}>
      <td>
        {s.status === 'active' ? (
          <span class="live-dot" title="Live" />
        ) : (
          <span class="ended-dot" title="Ended" />
        )}
      </td>
      <td>
        <a href={href} onClick={linkClick}>
          {formatTime(s.started_at)}
        </a>
      </td>
      <td>{safeLine(s.user)}</td>
      <td>
        {safeLine(s.target)} <span class="muted small">{s.protocol}</span>
      </td>
      <td class="mono">{safeLine(s.client_addr)}</td>
      <td>{s.application ? safeLine(s.application) : <span class="muted">—</span>}</td>
      <td class="num">
        {s.status === 'active' ? <span class="badge live">live</span> : null}{' '}
        {formatDurationMs(Math.max(0, end - parseIso(s.started_at)))}
      </td>
      <td class="num" data-testid="statement-count">
        {s.statements.toLocaleString()}
      </td>
      <td class={`num ${s.errors > 0 ? 'has-errors' : ''}`}>{s.errors.toLocaleString()}</td>
    </tr>
  );
}
