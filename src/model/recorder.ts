import type { SessionEventBody, SessionMeta } from './session.js';

/**
 * What the proxy sees of recording. The proxy calls `event` on the hot path, so an
 * implementation must do no I/O there: it stamps the event and queues it.
 */
export interface SessionRecorder {
  /** Stamp (seq, time, offset) and queue one event. Never throws, never blocks. */
  event(body: SessionEventBody): void;
  /**
   * Resolves once every event queued so far is durable. Used by `durability: strict`
   * before a statement is forwarded; rejects when the store cannot write.
   */
  durable(): Promise<void>;
}

export interface RecorderFactory {
  /** False when nothing is recorded: the proxy then skips observing statements altogether. */
  readonly active: boolean;
  /** Whether the proxy should wait for `durable()` before forwarding statements. */
  readonly strict: boolean;
  /** What of results the proxy must observe for the recording. */
  readonly capture: CaptureMode;
  readonly maxRows: number;
  /** Open a session; the recorder emits the `start` event itself. */
  open(meta: SessionMeta): SessionRecorder;
}

export type CaptureMode = 'none' | 'summary' | 'rows';

/** A recorder that keeps nothing: the proxy's behaviour with recording off. */
export const nullRecorderFactory: RecorderFactory = {
  active: false,
  strict: false,
  capture: 'none',
  maxRows: 0,
  open: () => nullRecorder,
};

const nullRecorder: SessionRecorder = {
  event: () => {},
  durable: () => Promise.resolve(),
};
