/**
 * The recorder the proxy talks to (model/recorder.ts). `event()` is the hot path: it stamps
 * time, redacts secrets and queues; sequence numbers and the store write happen in the
 * BatchWriter, off the hot path. See docs/recording.md.
 */
import type { Histogram } from '../model/histogram.js';
import type { CaptureMode, RecorderFactory, SessionRecorder } from '../model/recorder.js';
import type { SessionEventBody, SessionId, SessionMeta } from '../model/session.js';
import type { SessionStore } from '../store/session-store.js';
import { BatchWriter, type RecorderLogger, type Track, type WriterStats } from './batch-writer.js';
import { Checkpointer } from './checkpointer.js';
import { RecordingError } from './errors.js';
import { LiveBus } from './live-bus.js';
import { EventRedactor } from './redact-event.js';

export type { RecorderLogger };

export interface RecorderOptions {
  readonly store: SessionStore;
  /** fast (default): the proxy never waits; strict: batches are fsynced and the proxy awaits durable(). */
  readonly durability?: 'fast' | 'strict';
  readonly capture?: CaptureMode;
  readonly maxRows?: number;
  /** Events waiting for the store before new ones are dropped (and reported as gaps). Default 50,000. */
  readonly queueLimit?: number;
  /** Most events in one store transaction. Default 1,000. */
  readonly batchSize?: number;
  /** Longest pause between write attempts while the store fails. Default 1,000 ms. */
  readonly maxBackoffMs?: number;
  /** Fast mode: longest time an event waits for its group commit. Default 100 ms. */
  readonly flushIntervalMs?: number;
  readonly logger?: RecorderLogger;
  /** Receives every committed event; one is made if not given. */
  readonly bus?: LiveBus;
  /**
   * Signed checkpoints (when the store has a signing key): every this many ms (default 60,000;
   * 0: only by session count and at shutdown) ...
   */
  readonly checkpointIntervalMs?: number;
  /** ... and after this many sessions were sealed (default 1,000). */
  readonly checkpointEverySessions?: number;
  /**
   * How often to check that a restore of the store took no session end it had acknowledged
   * (default 30,000 ms; 0: only through live sessions' writes).
   */
  readonly restoreProbeMs?: number;
}

export interface RecorderStats extends WriterStats {
  queueLimit: number;
  /** Strict mode: the time each durable write took; null in fast mode. */
  durableWrites: Histogram | null;
  openSessions: number;
  /** event() calls that failed inside the recorder (a bug if ever non-zero). */
  recorderErrors: number;
  /** Signed checkpoints written, and failed attempts. */
  checkpoints: number;
  checkpointErrors: number;
  lastCheckpoint: number;
}

const silentLogger: RecorderLogger = { warn: () => {}, error: () => {} };

export class Recorder implements RecorderFactory {
  readonly active = true;
  readonly strict: boolean;
  readonly capture: CaptureMode;
  readonly maxRows: number;
  readonly bus: LiveBus;
  private readonly writer: BatchWriter;
  private readonly checkpointer: Checkpointer;
  private readonly logger: RecorderLogger;
  private readonly queueLimit: number;
  private readonly open_ = new Map<SessionId, TrackRecorder>();
  private recorderErrors = 0;
  private shuttingDown = false;

  constructor(options: RecorderOptions) {
    this.strict = options.durability === 'strict';
    this.capture = options.capture ?? 'summary';
    this.maxRows = options.maxRows ?? 100;
    this.logger = options.logger ?? silentLogger;
    this.bus =
      options.bus ?? new LiveBus((err) => this.logger.error({ err: String(err) }, 'live listener failed'));
    this.queueLimit = options.queueLimit ?? 50_000;
    this.checkpointer = new Checkpointer(options.store, {
      intervalMs: options.checkpointIntervalMs ?? 60_000,
      everySessions: options.checkpointEverySessions ?? 1000,
      logger: this.logger,
    });
    this.writer = new BatchWriter(options.store, {
      queueLimit: this.queueLimit,
      batchSize: options.batchSize ?? 1000,
      strict: this.strict,
      logger: this.logger,
      bus: this.bus,
      maxBackoffMs: options.maxBackoffMs ?? 1000,
      flushIntervalMs: options.flushIntervalMs ?? 100,
      onSealed: (n) => this.checkpointer.onSealed(n),
      restoreProbeMs: options.restoreProbeMs ?? 30_000,
    });
  }

  /** Opens a session and queues its `start` event. Throws if the id is already open. */
  open(meta: SessionMeta): SessionRecorder {
    if (this.open_.has(meta.id)) {
      throw new RecordingError(
        'DBTAPE_RECORDING_DUPLICATE_SESSION',
        `dbtape: session ${meta.id} is already being recorded`,
      );
    }
    const track: Track = {
      meta,
      nextSeq: 1,
      lost: 0,
      queued: 0,
      startCommitted: false,
      lastDropped: false,
      lastItem: null,
      lastAtUs: meta.startedAtUs,
      lastOffsetUs: 0,
    };
    const dialect = meta.protocol === 'mysql' ? 'mysql' : 'postgres';
    const rec = new TrackRecorder(track, this, new EventRedactor(dialect));
    this.open_.set(meta.id, rec);
    this.writer.accept(track, { kind: 'start', meta }, meta.startedAtUs, 0);
    return rec;
  }

  /** @internal called by TrackRecorder. */
  accept(rec: TrackRecorder, body: SessionEventBody, atUs: number, offsetUs: number): void {
    this.writer.accept(rec.track, body, atUs, offsetUs);
    if (body.kind === 'end') this.open_.delete(rec.track.meta.id);
  }

  /** @internal */
  durable(rec: TrackRecorder): Promise<void> {
    return this.writer.durable(rec.track);
  }

  /** @internal */
  failed(rec: TrackRecorder, err: unknown): void {
    this.recorderErrors++;
    this.logger.error({ sessionId: rec.track.meta.id, err: String(err) }, 'recorder failed to take an event');
  }

  /** Resolves when everything accepted so far has been written (or given up after store failures). */
  flush(): Promise<void> {
    return this.writer.flush();
  }

  stats(): RecorderStats {
    return {
      ...this.writer.stats,
      queueDepth: this.writer.depth,
      queueLimit: this.queueLimit,
      durableWrites: this.writer.durableWrites,
      openSessions: this.open_.size,
      recorderErrors: this.recorderErrors,
      checkpoints: this.checkpointer.checkpoints,
      checkpointErrors: this.checkpointer.errors,
      lastCheckpoint: this.checkpointer.last?.no ?? 0,
    };
  }

  /** Writes a signed checkpoint now, if the store can and anything changed. */
  checkpoint(): Promise<void> {
    return this.checkpointer.run();
  }

  /**
   * Ends every open session with `proxy_shutdown`, waits for the queue to drain, at most
   * `timeoutMs` (then what is left is given up and logged), and writes a last signed
   * checkpoint. The store is not closed here.
   */
  async shutdown(timeoutMs = 10_000): Promise<void> {
    if (this.shuttingDown) return;
    this.shuttingDown = true;
    for (const rec of [...this.open_.values()]) rec.event({ kind: 'end', reason: 'proxy_shutdown' });
    this.writer.stop();
    let timer: NodeJS.Timeout | undefined;
    const timeout = new Promise<'timeout'>((resolve) => {
      timer = setTimeout(() => resolve('timeout'), timeoutMs);
    });
    const outcome = await Promise.race([this.writer.flush().then(() => 'done' as const), timeout]);
    clearTimeout(timer);
    if (outcome === 'timeout') {
      this.logger.error(
        { queued: this.writer.depth },
        'recording store did not take the last events before shutdown',
      );
      this.writer.abandon();
    }
    await this.checkpointer.stop();
  }
}

class TrackRecorder implements SessionRecorder {
  private readonly t0 = performance.now();
  private ended = false;

  constructor(
    readonly track: Track,
    private readonly owner: Recorder,
    private readonly redactor: EventRedactor,
  ) {}

  event(body: SessionEventBody): void {
    if (this.ended) return;
    try {
      if (body.kind === 'start') return;
      const t = this.track;
      // Offsets come from the monotonic clock; wall time is the session start plus the offset,
      // so both are monotonic within a session and agree with each other exactly.
      const offsetUs = Math.max(t.lastOffsetUs, Math.round((performance.now() - this.t0) * 1000));
      this.owner.accept(this, this.redactor.redact(body), t.meta.startedAtUs + offsetUs, offsetUs);
      if (body.kind === 'end') this.ended = true;
    } catch (err) {
      this.owner.failed(this, err);
    }
  }

  durable(): Promise<void> {
    return this.owner.durable(this);
  }
}

export function createRecorder(options: RecorderOptions): Recorder {
  return new Recorder(options);
}
