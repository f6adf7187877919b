/**
 * GET /metrics in the Prometheus text exposition format (version 0.0.4). Statement outcomes and
 * upstream latency are counted here from committed events on the live bus; the rest comes from
 * the process (MetricsSnapshot). No label carries statement text or user names.
 */
import type { SessionEvent } from '../model/session.js';
import type { LiveBus } from '../recording/live-bus.js';
import type { MetricsSnapshot } from './types.js';

/** Upper bounds in seconds: from sub-millisecond local queries to half-minute reports. */
export const LATENCY_BUCKETS_S = [
  0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30,
] as const;

export class StatementMetrics {
  readonly outcomes = { ok: 0, error: 0, denied: 0 };
  private readonly bucketCounts = new Array<number>(LATENCY_BUCKETS_S.length).fill(0);
  private latencyCount = 0;
  private latencySumS = 0;
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
    const s = durationUs / 1e6;
    this.latencyCount++;
    this.latencySumS += s;
    // Counts are per bucket here and made cumulative when rendered.
    const i = LATENCY_BUCKETS_S.findIndex((b) => s <= b);
    if (i >= 0) this.bucketCounts[i]!++;
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
      this.histogramLines(),
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
    metric('dbtape_dashboard_streams', 'gauge', 'Open Server-Sent Event streams of the dashboard and API.', [
      `dbtape_dashboard_streams ${sseClients}`,
    ]);
    return `${out.join('\n')}\n`;
  }

  private histogramLines(): string[] {
    const name = 'dbtape_upstream_latency_seconds';
    const lines: string[] = [];
    let cumulative = 0;
    LATENCY_BUCKETS_S.forEach((b, i) => {
      cumulative += this.bucketCounts[i]!;
      lines.push(`${name}_bucket{le="${b}"} ${cumulative}`);
    });
    lines.push(`${name}_bucket{le="+Inf"} ${this.latencyCount}`);
    lines.push(`${name}_sum ${this.latencySumS}`);
    lines.push(`${name}_count ${this.latencyCount}`);
    return lines;
  }
}
