/**
 * How `dbtape serve` stops on SIGTERM/SIGINT: end the sessions and write their recordings, then
 * exit 0. What shutdown cannot write in time, or when a second signal says not to wait, is lost
 * from the recording (the next start ends those sessions as proxy_crash): that is logged with what
 * was still queued, and the exit code is 1 so that a supervisor sees it.
 */
import type { Logger } from '../model/logger.js';

export interface Stoppable {
  close(): Promise<void>;
  /** Events still queued for the store, for the log line when shutdown gives up. */
  queuedEvents(): number;
}

export interface ShutdownOptions {
  readonly limitMs: number;
  readonly exit: (code: number) => void;
}

/** Returns the handler to call with each signal's name. */
export function shutdownHandler(
  server: Stoppable,
  log: Logger,
  opts: ShutdownOptions,
): (signal: string) => void {
  let stopping = false;
  let exited = false;
  const exit = (code: number): void => {
    if (exited) return;
    exited = true;
    opts.exit(code);
  };
  const giveUp = (why: string): void => {
    if (exited) return;
    log.error(
      { queuedEvents: server.queuedEvents() },
      `${why}: exiting without writing what is still queued for the recording`,
    );
    exit(1);
  };
  return (signal) => {
    if (stopping) {
      giveUp(`${signal} again during shutdown`);
      return;
    }
    stopping = true;
    log.info({ signal }, 'shutting down');
    server.close().then(
      () => exit(0),
      () => exit(1),
    );
    setTimeout(() => giveUp(`shutdown took longer than ${opts.limitMs / 1000} s`), opts.limitMs).unref();
  };
}
