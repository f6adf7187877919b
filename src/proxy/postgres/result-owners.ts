import { Fifo } from '../../wire/fifo.js';
/**
 * Which portal each result belongs to, for `max_rows` on sessions that are neither recorded nor
 * masked, where following the whole session with the tracker would be wasted work. A portal read
 * in pages keeps its row count across Executes (policy-results.ts), so the count must be filed
 * under the right portal; nothing else about the session is needed.
 *
 * The server answers in order (PostgreSQL docs, "Extended Query"): an Execute's result ends with
 * CommandComplete, PortalSuspended, EmptyQueryResponse or an error, and after an error the server
 * skips everything up to Sync; a Query's or FunctionCall's results end with its ReadyForQuery.
 */
export class ResultOwners {
  /** A portal name per Execute sent; null for a Sync, Query or FunctionCall (answered by ReadyForQuery). */
  private readonly queue = new Fifo<string | null>();

  execute(portal: string): void {
    this.queue.push(portal);
  }

  /** A Sync, Query or FunctionCall. */
  untilReady(): void {
    this.queue.push(null);
  }

  /** The portal whose result the server is sending: the Execute at the head; null for a simple query. */
  portal(): string | null {
    return this.queue.peek() ?? null;
  }

  /** A result ended (CommandComplete, PortalSuspended, EmptyQueryResponse). */
  resultEnded(): void {
    if (typeof this.queue.peek() === 'string') this.queue.shift();
  }

  /** An ErrorResponse: the Executes before the next Sync are not run. */
  error(): void {
    while (typeof this.queue.peek() === 'string') this.queue.shift();
  }

  /** ReadyForQuery answers everything up to the first Sync, Query or FunctionCall. */
  ready(): void {
    while (this.queue.length > 0) {
      if (this.queue.shift() === null) return;
    }
  }
}
