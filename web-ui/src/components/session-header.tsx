/** The player's header: who, from where, with which client, to which target, for how long; and "End session". */
import { useState } from 'preact/hooks';
import * as api from '../api';
import { formatDateTime, formatDurationMs, plural } from '../format';
import { linkClick } from '../router';
import { safeLine } from '../safe-text';
import type { Me, SessionDetailJson } from '../types';

const END_REASONS: Record<string, string> = {
  client_closed: 'the client disconnected',
  client_lost: 'the client connection was lost',
  upstream_lost: 'the upstream connection was lost',
  upstream_closed: 'the upstream ended it',
  killed: 'ended by an administrator',
  protocol_error: 'protocol error',
  proxy_shutdown: 'dbtape shut down',
  proxy_crash: 'dbtape stopped unexpectedly',
};

interface Props {
  session: SessionDetailJson;
  me: Me;
  durationMs: number;
  /** Counted from the events shown, so that a live session's numbers move as statements arrive. */
  counts: { statements: number; errors: number };
  onKilled: () => void;
}

export function SessionHeader({ session: s, me, durationMs, counts, onKilled }: Props) {
  const live = s.status === 'active';
  return (
    <section class="card session-header" data-testid="session-header">
      <div class="title-row">
        <a href="/" onClick={linkClick} class="back">
          ← Sessions
        </a>
        <h1>
          <span class="mono">{s.id}</span>
        </h1>
        {live ? (
          <span class="badge live" data-testid="session-status">
            <span class="live-dot" /> live
          </span>
        ) : (
          <span class="badge ended" data-testid="session-status">
            ended{s.end_reason ? `: ${END_REASONS[s.end_reason] ?? safeLine(s.end_reason)}` : ''}
          </span>
        )}
        {live && me.can.kill && s.live && (
          <span class="kill-slot">
            <KillButton id={s.id} onKilled={onKilled} />
          </span>
        )}
      </div>
      <dl class="meta">
        <div>
          <dt>User</dt>
          <dd data-testid="meta-user">
            {safeLine(s.user)}
            {s.roles.length > 0 && <span class="muted small"> ({s.roles.map(safeLine).join(', ')})</span>}
          </dd>
        </div>
        <div>
          <dt>From</dt>
          <dd class="mono">
            {safeLine(s.client_addr)}:{s.client_port}
            <span class="muted small"> {s.client_tls ? safeLine(s.client_tls) : 'no TLS'}</span>
          </dd>
        </div>
        <div>
          <dt>Client</dt>
          <dd>{s.application ? safeLine(s.application) : <span class="muted">not given</span>}</dd>
        </div>
        <div>
          <dt>Target</dt>
          <dd>
            {safeLine(s.target)}{' '}
            <span class="muted small">
              {s.protocol} · {safeLine(s.upstream_database)} as {safeLine(s.upstream_user)}
            </span>
          </dd>
        </div>
        <div>
          <dt>Started</dt>
          <dd>{formatDateTime(s.started_at)}</dd>
        </div>
        <div>
          <dt>Duration</dt>
          <dd>{formatDurationMs(Math.max(0, durationMs))}</dd>
        </div>
        <div>
          <dt>Statements</dt>
          <dd data-testid="meta-statements">
            {counts.statements.toLocaleString()}
            {counts.errors > 0 && <span class="has-errors"> · {plural(counts.errors, 'error')}</span>}
          </dd>
        </div>
      </dl>
    </section>
  );
}

function KillButton({ id, onKilled }: { id: string; onKilled: () => void }) {
  const [confirming, setConfirming] = useState(false);
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState<string | null>(null);
  const end = async () => {
    setBusy(true);
    setError(null);
    try {
      await api.killSession(id);
      setConfirming(false);
      onKilled();
    } catch (err) {
      setError(err instanceof Error ? err.message : String(err));
    } finally {
      setBusy(false);
    }
  };
  if (!confirming) {
    return (
      <button type="button" class="danger" onClick={() => setConfirming(true)} data-testid="kill">
        End session
      </button>
    );
  }
  return (
    <span class="confirm" role="alertdialog" aria-label="End this session?">
      <span>The client will be disconnected.</span>
      <button type="button" class="danger" onClick={end} disabled={busy} data-testid="kill-confirm">
        {busy ? 'Ending…' : 'End it now'}
      </button>
      <button type="button" onClick={() => setConfirming(false)} disabled={busy}>
        Cancel
      </button>
      {error && <span class="form-error">{error}</span>}
    </span>
  );
}
