/**
 * Server-Sent Event streams (HTML Living Standard, "Server-sent events"). Writes to one stream are
 * queued in order; a client that cannot keep up is cut off once `maxPending` messages wait, and
 * reconnects with Last-Event-ID to resume. A comment line every heartbeat keeps proxies and load
 * balancers from closing an idle stream.
 *
 * A stream lives no longer than the sign-in or API token that opened it: it is ended at once when
 * that credential ends (`SseChannels.endFor`), and at the next heartbeat when it lapses, which no
 * event announces.
 */
import type { SSEStreamingApi } from 'hono/streaming';

/** The credential a stream was opened with. */
export interface StreamOwner {
  /** Names the credential (`credentialKey`); `SseChannels.endFor(key)` ends its streams. */
  readonly key: string;
  /** Asked at every heartbeat; must not count as activity of the credential. */
  stillValid(): boolean;
}

export class SseChannel {
  private chain: Promise<void> = Promise.resolve();
  private pending = 0;
  private closed_ = false;
  private readonly heartbeat: NodeJS.Timeout;
  private finish!: () => void;
  /** Resolves when the stream is over (closed by us, by the client, or on overflow). */
  readonly done = new Promise<void>((resolve) => {
    this.finish = resolve;
  });

  constructor(
    private readonly stream: SSEStreamingApi,
    heartbeatMs: number,
    private readonly stillValid: () => boolean = () => true,
    private readonly maxPending = 10_000,
  ) {
    stream.onAbort(() => this.close(true));
    this.heartbeat = setInterval(() => {
      if (this.stillValid()) this.enqueue(() => this.stream.write(': ping\n\n'));
      else this.close();
    }, heartbeatMs);
    this.heartbeat.unref();
  }

  get closed(): boolean {
    return this.closed_;
  }

  send(event: string, data: unknown, id?: string): void {
    if (this.closed_) return;
    if (this.pending >= this.maxPending) {
      // The client is too slow; it resumes from its last event id when it reconnects.
      this.close();
      return;
    }
    const msg = { event, data: JSON.stringify(data), ...(id !== undefined ? { id } : {}) };
    this.enqueue(() => this.stream.writeSSE(msg));
  }

  /**
   * Stops the heartbeat and ends the stream once what is queued has been written, or at once
   * (`now`) when the client is gone or the server is closing.
   */
  close(now = false): void {
    if (now) this.finish();
    if (this.closed_) return;
    this.closed_ = true;
    clearInterval(this.heartbeat);
    this.chain.then(() => this.finish());
  }

  private enqueue(write: () => Promise<unknown>): void {
    this.pending++;
    this.chain = this.chain.then(
      () =>
        write().then(
          () => {
            this.pending--;
          },
          () => {
            this.pending--;
            this.close(true);
          },
        ),
      () => {},
    );
  }
}

/**
 * Every open stream, for the metrics gauge, to end them all when the server closes, and by
 * credential, to end those of a sign-in or token that ends.
 */
export class SseChannels {
  private readonly open_ = new Set<SseChannel>();
  private readonly byOwner = new Map<string, Set<SseChannel>>();

  constructor(private readonly heartbeatMs: number) {}

  open(stream: SSEStreamingApi, owner: StreamOwner): SseChannel {
    const ch = new SseChannel(stream, this.heartbeatMs, () => owner.stillValid());
    this.open_.add(ch);
    const mine = this.byOwner.get(owner.key) ?? new Set<SseChannel>();
    this.byOwner.set(owner.key, mine);
    mine.add(ch);
    ch.done.then(() => {
      this.open_.delete(ch);
      mine.delete(ch);
      if (mine.size === 0 && this.byOwner.get(owner.key) === mine) this.byOwner.delete(owner.key);
    });
    // The credential may have ended while the request was on its way here.
    if (!owner.stillValid()) ch.close();
    return ch;
  }

  /** Ends, cleanly, every stream opened with the credential `key`. */
  endFor(key: string): void {
    for (const ch of this.byOwner.get(key) ?? []) ch.close();
  }

  get size(): number {
    return this.open_.size;
  }

  closeAll(): void {
    for (const ch of this.open_) ch.close(true);
  }

  /** Resolves when every stream has ended, or after `timeoutMs`. */
  async settled(timeoutMs: number): Promise<void> {
    let timer: NodeJS.Timeout | undefined;
    const timeout = new Promise<void>((resolve) => {
      timer = setTimeout(resolve, timeoutMs);
    });
    await Promise.race([Promise.all([...this.open_].map((ch) => ch.done)), timeout]);
    clearTimeout(timer);
    // Let the HTTP layer write the end of each response.
    await new Promise((resolve) => setImmediate(resolve));
  }
}
