/**
 * Where rendered text goes: a writable stream (stdout, a file) written with backpressure, so an
 * export of a huge session does not buffer it all in memory. When the reader goes away
 * (`dbtape replay ID | head`, EPIPE) the sink turns `closed` and callers stop quietly.
 */
import { once } from 'node:events';

export interface TextSink {
  /** Resolves when the stream can take more. */
  write(text: string): Promise<void>;
  /** True once the reader has gone away; further writes are dropped. */
  readonly closed: boolean;
  /** Finishes the stream (not for stdout) and resolves once everything is written. */
  end(): Promise<void>;
}

export function streamSink(stream: NodeJS.WritableStream, options: { endStream?: boolean } = {}): TextSink {
  let closed = false;
  let failure: Error | null = null;
  stream.on('error', (err: NodeJS.ErrnoException) => {
    closed = true;
    if (err.code !== 'EPIPE') failure = err;
  });
  const waitDrain = async (): Promise<void> => {
    // once() rejects on 'error': a closed pipe never drains, and the error handler above records why.
    await once(stream, 'drain').catch(() => undefined);
  };
  return {
    get closed() {
      return closed;
    },
    async write(text) {
      if (failure) throw failure;
      if (closed || text === '') return;
      if (!stream.write(text)) await waitDrain();
      if (failure) throw failure;
    },
    async end() {
      if (failure) throw failure;
      if (closed) return;
      if (options.endStream) {
        await new Promise<void>((resolve) => stream.end(() => resolve()));
      } else if ((stream as NodeJS.WriteStream).writableNeedDrain) {
        await waitDrain();
      }
      if (failure) throw failure;
    },
  };
}

/** Collects text in memory (tests, small exports). */
export class StringSink implements TextSink {
  text = '';
  readonly closed = false;

  async write(text: string): Promise<void> {
    this.text += text;
  }

  async end(): Promise<void> {}
}
