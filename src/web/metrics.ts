/**
 * GET /metrics in the Prometheus text exposition format (version 0.0.4). Statement outcomes and
 * upstream latency are counted here from committed events on the live bus; the rest comes from
 * the process (MetricsSnapshot). No label carries statement text or user names.
 */
import { Histogram } from '../model/histogram.js';
import type { SessionEvent } from '../model/session.js';
import type { LiveBus } from '../recording/live-bus.js';
import type { RecorderStats } from '../recording/recorder.js';
import type { MetricsSnapshot } from './types.js';

/** Upper bounds in seconds: from sub-millisecond local queries to half-minute reports. */
export const LATENCY_BUCKETS_S = [
  0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30,
] as const;

/** The recording's part of a MetricsSnapshot, from the recorder's stats. */
export function recordingSnapshot(r: RecorderStats): NonNullable<MetricsSnapshot['recording']> {
  return {
    queueDepth: r.queueDepth,
    queueLimit: r.queueLimit,
    errors: r.storeErrors + r.recorderErrors,
    gaps: r.gaps,
    lost: r.lost,
    committed: r.committed,
    refused: r.refused,
    durableWrites: r.durableWrites,
  };
}

export class StatementMetrics {
  readonly outcomes = { ok: 0, error: 0, denied: 0 };
  private readonly latency = new Histogram(LATENCY_BUCKETS_S);
  private readonly unsubscribe: () => void;

  constructor(bus: LiveBus) {
    this.unsubscribe = bus.subscribeAll((e) => this.onEvent(e));
  }

  close(): void {
    this.unsubscribe();
  }

  private onEvent(e: SessionEvent): void {
    switch (e.kind) {
      case 'result':
        // A later Execute of a suspended portal continues a statement counted already.
        if (e.fetched !== undefined) break;
        this.outcomes.ok++;
        this.observe(e.durationUs);
        break;
      case 'error':
        this.outcomes.error++;
        if (e.durationUs !== undefined) this.observe(e.durationUs);
        break;
      case 'denied':
        this.outcomes.denied++;
        break;
      default:
        break;
    }
  }

  private observe(durationUs: number): void {
    this.latency.observe(durationUs / 1e6);
  }

  render(snap: MetricsSnapshot, sseClients: number): string {
    const out: string[] = [];
    const metric = (name: string, type: string, help: string, lines: string[]) => {
      out.push(`# HELP ${name} ${help}`, `# TYPE ${name} ${type}`, ...lines);
    };
    metric('dbtape_sessions_active', 'gauge', 'Client sessions open now.', [
      `dbtape_sessions_active ${snap.sessionsActive}`,
    ]);
    metric('dbtape_sessions_total', 'counter', 'Client sessions accepted since the process started.', [
      `dbtape_sessions_total ${snap.sessionsTotal}`,
    ]);
    metric(
      'dbtape_statements_total',
      'counter',
      'Recorded statements by outcome (ok, error, denied by policy).',
      Object.entries(this.outcomes).map(([k, v]) => `dbtape_statements_total{outcome="${k}"} ${v}`),
    );
    metric(
      'dbtape_upstream_latency_seconds',
      'histogram',
      'Time from a statement reaching the upstream to its completion, from recorded results.',
      histogramLines('dbtape_upstream_latency_seconds', this.latency),
    );
    const r = snap.recording;
    metric('dbtape_recording_queue_depth', 'gauge', 'Recorded events waiting for the store.', [
      `dbtape_recording_queue_depth ${r?.queueDepth ?? 0}`,
    ]);
    metric('dbtape_recording_errors_total', 'counter', 'Failed writes to the session store.', [
      `dbtape_recording_errors_total ${r?.errors ?? 0}`,
    ]);
    metric('dbtape_recording_gaps_total', 'counter', 'Gaps written into recordings after lost events.', [
      `dbtape_recording_gaps_total ${r?.gaps ?? 0}`,
    ]);
    metric('dbtape_recording_lost_events_total', 'counter', 'Recorded events lost before the store.', [
      `dbtape_recording_lost_events_total ${r?.lost ?? 0}`,
    ]);
    metric('dbtape_recording_committed_events_total', 'counter', 'Recorded events committed to the store.', [
      `dbtape_recording_committed_events_total ${r?.committed ?? 0}`,
    ]);
    metric(
      'dbtape_recording_refused_total',
      'counter',
      'Statements refused because their record could not be made durable (durability: strict).',
      [`dbtape_recording_refused_total ${r?.refused ?? 0}`],
    );
    if (r?.durableWrites) {
      metric(
        'dbtape_recording_durable_write_seconds',
        'histogram',
        'Strict-mode group commits: from handing a batch to the store to its record being on disk (statements wait this long).',
        histogramLines('dbtape_recording_durable_write_seconds', r.durableWrites),
      );
    }
    metric('dbtape_dashboard_streams', 'gauge', 'Open Server-Sent Event streams of the dashboard and API.', [
      `dbtape_dashboard_streams ${sseClients}`,
    ]);
    return `${out.join('\n')}\n`;
  }
}

/** A histogram's sample lines: cumulative buckets, +Inf, sum and count. */
function histogramLines(name: string, h: Histogram): string[] {
  const lines: string[] = [];
  let cumulative = 0;
  h.bounds.forEach((b, i) => {
    cumulative += h.buckets[i]!;
    lines.push(`${name}_bucket{le="${b}"} ${cumulative}`);
  });
  lines.push(`${name}_bucket{le="+Inf"} ${h.count}`);
  lines.push(`${name}_sum ${h.sum}`);
  lines.push(`${name}_count ${h.count}`);
  return lines;
}
