/**
 * Broken links in a session's chain, kept (up to 64) until the session is done, to tell what
 * happened: an event changed in place breaks its own link only; a changed stored hash breaks its
 * successor's too, which then verifies from the recomputed hash; an event moved to another
 * sequence number verifies at its old place (its clear body also names its old seq).
 */
import { eventHash } from './chain.js';
import type { DamageKind } from './findings.js';
import type { StoredEvent } from './source.js';

/** A broken link, kept to tell modified from reordered events when the session is done. */
export interface Broken {
  readonly event: StoredEvent;
  /** The stored hash of the event before it. */
  readonly prev: Buffer;
  /** Its hash computed from that. */
  readonly computed: Buffer;
}

type Report = (kind: DamageKind, detail: string, seq: number | null) => void;

const KEEP_BROKEN = 64;

export class BrokenLinks {
  private readonly broken: Broken[] = [];
  private count = 0;

  add(b: Broken): void {
    this.count++;
    if (this.broken.length < KEEP_BROKEN) this.broken.push(b);
  }

  /** Reports each run of consecutive broken links once, at its start. */
  report(add: Report): void {
    const runs: Broken[][] = [];
    for (const b of this.broken) {
      const run = runs[runs.length - 1];
      if (run && run[run.length - 1]!.event.seq === b.event.seq - 1) run.push(b);
      else runs.push([b]);
    }
    for (const run of runs) this.reportRun(run, add);
    if (this.count > this.broken.length) {
      add('modified', `${this.count - this.broken.length} more events do not match their hashes`, null);
    }
  }

  private reportRun(run: Broken[], add: Report): void {
    const first = run[0]!;
    const seq = first.event.seq;
    const moved = this.recordedAt(first);
    if (moved !== null) {
      add('reordered', `the event stored as seq ${seq} was recorded as seq ${moved}`, seq);
      for (const b of run.slice(1)) {
        const m = this.recordedAt(b);
        if (m !== null)
          add('reordered', `the event stored as seq ${b.event.seq} was recorded as seq ${m}`, b.event.seq);
      }
      return;
    }
    const next = run[1];
    if (next && linksFrom(first.computed, next.event)) {
      add('modified', `seq ${seq}: its stored hash was changed`, seq);
      return;
    }
    const tail = run.length > 1 ? `; the chain stays broken up to seq ${run[run.length - 1]!.event.seq}` : '';
    add('modified', `seq ${seq} does not match its hash: its content or columns were changed${tail}`, seq);
  }

  /** The seq an event was recorded at, when it is stored at another one (else null). */
  private recordedAt(b: Broken): number | null {
    const e = b.event;
    if (typeof e.body === 'string') {
      const claimed = claimedSeq(e.body);
      if (claimed !== null && claimed !== e.seq) return claimed;
    }
    for (const other of this.broken) {
      if (other === b || !Buffer.isBuffer(e.hash)) continue;
      const header = {
        seq: other.event.seq,
        atUs: e.atUs,
        offsetUs: e.offsetUs,
        format: e.format,
        kind: e.kind,
      };
      if (eventHash(other.prev, header, bodyOf(e)).equals(e.hash)) return other.event.seq;
    }
    return null;
  }
}

function linksFrom(prev: Buffer, e: StoredEvent): boolean {
  if (!Buffer.isBuffer(e.hash)) return false;
  const header = { seq: e.seq, atUs: e.atUs, offsetUs: e.offsetUs, format: e.format, kind: e.kind };
  return eventHash(prev, header, bodyOf(e)).equals(e.hash);
}

/** The `seq` a v1 JSON body says it has, or null when unreadable. */
function claimedSeq(body: string): number | null {
  try {
    const v = JSON.parse(body) as { seq?: unknown };
    return typeof v.seq === 'number' ? v.seq : null;
  } catch {
    return null;
  }
}

/** The body as hashed: text or bytes (anything else, from a damaged store, as text). */
export function bodyOf(e: StoredEvent): string | Buffer {
  return typeof e.body === 'string' || Buffer.isBuffer(e.body) ? e.body : String(e.body);
}
