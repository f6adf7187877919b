import { Fifo } from '../../wire/fifo.js';
/**
 * Which Execute each result belongs to, for `max_rows`: its portal, on sessions that are neither
 * recorded nor masked, where following the whole session with the tracker would be wasted work (a
 * portal read in pages keeps its row count across Executes, policy-results.ts, so the count must
 * be filed under the right portal); and, on a read role's session, the Execute's flags (pipeline.ts):
 * whether dbtape set its row limit, so that the PortalSuspended it brings ends the result instead,
 * and whether it is the first Execute of a newly bound unnamed portal, whose count starts afresh.
 * Both are known when the client sends the Execute and needed when the server answers it.
 *
 * The server answers in order (PostgreSQL docs, "Extended Query"): an Execute's result ends with
 * CommandComplete, PortalSuspended, EmptyQueryResponse or an error, and after an error the server
 * skips everything up to Sync; a Query's or FunctionCall's results end with its ReadyForQuery.
 */
export const ExecuteFlag = {
  /** dbtape set its row limit to max_rows + 1 where the client asked for every row. */
  Limited: 1,
  /** The first Execute of a newly bound unnamed portal. */
  Fresh: 2,
} as const;

export class ResultOwners {
  /** A portal name per Execute sent; null for a Sync, Query or FunctionCall (answered by ReadyForQuery). */
  private readonly queue = new Fifo<string | null>();
  /** Per Execute in `queue`, in step with it: its flags. Numbers, so no object is made per Execute (fifo.ts). */
  private readonly flags = new Fifo<number>();

  execute(portal: string, flags = 0): void {
    this.queue.push(portal);
    this.flags.push(flags);
  }

  /** A Sync, Query or FunctionCall. */
  untilReady(): void {
    this.queue.push(null);
  }

  /** The portal whose result the server is sending: the Execute at the head; null for a simple query. */
  portal(): string | null {
    return this.queue.peek() ?? null;
  }

  /** Whether the result the server is sending is an Execute's with `flag` (ExecuteFlag). */
  has(flag: number): boolean {
    return typeof this.queue.peek() === 'string' && ((this.flags.peek() ?? 0) & flag) !== 0;
  }

  /** A result ended (CommandComplete, PortalSuspended, EmptyQueryResponse). */
  resultEnded(): void {
    if (typeof this.queue.peek() === 'string') this.shiftExecute();
  }

  /** An ErrorResponse: the Executes before the next Sync are not run. */
  error(): void {
    while (typeof this.queue.peek() === 'string') this.shiftExecute();
  }

  /** ReadyForQuery answers everything up to the first Sync, Query or FunctionCall. */
  ready(): void {
    while (this.queue.length > 0) {
      if (this.queue.peek() === null) {
        this.queue.shift();
        return;
      }
      this.shiftExecute();
    }
  }

  private shiftExecute(): void {
    this.queue.shift();
    this.flags.shift();
  }
}
