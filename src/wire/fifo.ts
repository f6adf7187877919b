/**
 * A first-in first-out queue on a ring of slots: the proxies' queues of commands awaiting their
 * responses, which see a push and a shift per statement for the whole life of a session.
 *
 * A taken entry's slot is cleared at once. The queues used to leave taken entries in an array until
 * a compaction every 1,024 commands, so each lived long enough to be promoted to V8's old space;
 * at sysbench's rates that garbage made the MySQL proxy run a full mark-compact every 200 ms and
 * cost about a fifth of its CPU. The ring also allocates nothing once it has grown to the
 * session's deepest pipeline.
 */
export class Fifo<T> {
  private slots: (T | undefined)[] = new Array<T | undefined>(8).fill(undefined);
  /** slots.length - 1; the length is always a power of two. */
  private mask = 7;
  private head = 0;
  private count = 0;

  get length(): number {
    return this.count;
  }

  push(item: T): void {
    if (this.count === this.slots.length) this.grow();
    this.slots[(this.head + this.count) & this.mask] = item;
    this.count++;
  }

  /** The entry at the head, or undefined when the queue is empty. */
  peek(): T | undefined {
    return this.count === 0 ? undefined : this.slots[this.head];
  }

  /** The i-th entry from the head (0 is the head), or undefined past the end. */
  at(i: number): T | undefined {
    return i >= 0 && i < this.count ? this.slots[(this.head + i) & this.mask] : undefined;
  }

  /** Replaces the i-th entry from the head; i must be below length. */
  set(i: number, item: T): void {
    if (i < 0 || i >= this.count) throw new RangeError(`Fifo.set(${i}) on a queue of ${this.count}`);
    this.slots[(this.head + i) & this.mask] = item;
  }

  /** Takes the entry at the head, or undefined when the queue is empty. */
  shift(): T | undefined {
    if (this.count === 0) return undefined;
    const item = this.slots[this.head];
    this.slots[this.head] = undefined;
    this.head = (this.head + 1) & this.mask;
    this.count--;
    return item;
  }

  private grow(): void {
    const next = new Array<T | undefined>(this.slots.length * 2).fill(undefined);
    for (let i = 0; i < this.count; i++) next[i] = this.slots[(this.head + i) & this.mask];
    this.slots = next;
    this.mask = next.length - 1;
    this.head = 0;
  }
}
