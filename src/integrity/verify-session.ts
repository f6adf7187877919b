/**
 * Checks one session as its events stream past: every event's link in the hash chain, dense
 * sequence numbers, the session row's counters and head, its statements' stored outcomes
 * (verify-outcomes.ts), its seal, what the signed checkpoints say about it, and (with the
 * keyring) its data key. Damage is reported where it starts, once: an event whose hash breaks the
 * chain drags its successor's link down with it, so consecutive broken links are reported as one
 * run.
 */
import { ENVELOPE_OVERHEAD } from './aead.js';
import { eventHash, genesisHash, sealHash, ZERO_HASH } from './chain.js';
import type { FindingList } from './findings.js';
import type { Keyring } from './keyring.js';
import type { StoredEvent, StoredSession } from './source.js';
import type { SignedHead, SignedSeal } from './verify-checkpoints.js';
import { checkDataKey } from './verify-keys.js';
import { BrokenLinks, bodyOf } from './verify-links.js';
import { OutcomeCheck } from './verify-outcomes.js';

export interface SessionContext {
  readonly findings: FindingList;
  /** Seal number → session, as stored. */
  readonly sealsByNo: ReadonlyMap<number, StoredSession>;
  /** What checkpoints signed: by seal number, by session id, and heads of open sessions. */
  readonly signedSeals: ReadonlyMap<number, SignedSeal>;
  readonly signedById: ReadonlyMap<string, { sealNo: number } & SignedSeal>;
  readonly openHeads: ReadonlyMap<string, SignedHead>;
  readonly chainFromSid: number;
  readonly keyring: Keyring | null;
}

const FORMAT_CLEAR = 1;
const FORMAT_ENCRYPTED = 2;

export class SessionChecker {
  readonly id: string;
  events = 0;
  private readonly chained: boolean;
  private prev: Buffer;
  private expectSeq = 1;
  private maxSeq = 0;
  private statements = 0;
  private errors = 0;
  private last: StoredEvent | null = null;
  private afterGap = false;
  private readonly broken = new BrokenLinks();
  private encryptedEvents = 0;
  private headSeen = false;
  /** Chained sessions only: unchained events could be edited along with the column, proving nothing. */
  private readonly outcomes: OutcomeCheck | null;
  /**
   * What the row's reported_application must hold: the application of the last `client` event, or
   * null when that event is encrypted (an encrypted session keeps it out of the clear row);
   * undefined when the event cannot be read (its damage is reported by the chain).
   */
  private application: string | null | undefined = null;

  constructor(
    private readonly s: StoredSession,
    private readonly ctx: SessionContext,
  ) {
    this.id = s.meta.id;
    // A session recorded before chaining existed holds no integrity data at all: one that does
    // is chained whatever the store's head says (else moving the head would hide damage).
    const hasIntegrity = s.headHash !== null || s.seal !== null || s.sealNo !== null || s.dataKey !== null;
    this.chained = s.sid >= ctx.chainFromSid || hasIntegrity;
    if (s.sid < ctx.chainFromSid && hasIntegrity) {
      ctx.findings.add('modified', "the store's integrity head was moved: it exempts this chained session", {
        session: this.id,
      });
    }
    this.prev = genesisHash(s.meta, s.dataKey?.fingerprint ?? null);
    this.outcomes = this.chained
      ? new OutcomeCheck(this.id, (seq, detail) => this.add('modified', detail, seq))
      : null;
  }

  private add(kind: Parameters<FindingList['add']>[0], detail: string, seq: number | null = null): void {
    this.ctx.findings.add(kind, detail, { session: this.id, seq });
  }

  feed(e: StoredEvent): void {
    this.events++;
    if (e.seq < this.expectSeq) {
      this.add('inserted', `a second event with seq ${e.seq}`, e.seq);
      this.outcomes?.halt();
      return;
    }
    if (e.seq > this.expectSeq) {
      const range =
        e.seq - 1 > this.expectSeq ? `seqs ${this.expectSeq}–${e.seq - 1}` : `seq ${this.expectSeq}`;
      this.add('deleted', `${range} deleted: the sequence jumps to ${e.seq}`, this.expectSeq);
      this.afterGap = true;
      this.outcomes?.halt();
    }
    this.expectSeq = e.seq + 1;
    this.maxSeq = e.seq;
    this.last = e;
    if (e.kind === 'query') this.statements++;
    else if (e.kind === 'error') this.errors++;
    if (e.format === FORMAT_ENCRYPTED) this.encryptedEvents++;
    if (!validHeader(e)) {
      this.add('modified', `seq ${e.seq}: its columns hold values dbtape never writes`, e.seq);
      this.outcomes?.halt();
      this.prev = Buffer.isBuffer(e.hash) ? e.hash : this.prev;
      this.afterGap = false;
      return;
    }
    this.checkForm(e);
    if (e.kind === 'client') this.application = clientApplication(e);
    if (this.chained) this.link(e);
    this.outcomes?.feed(e);
    this.afterGap = false;
    const head = this.ctx.openHeads.get(this.id);
    if (head && head.seq === e.seq) {
      this.headSeen = true;
      if (!(Buffer.isBuffer(e.hash) && e.hash.equals(head.hash))) {
        this.add('modified', `seq ${e.seq} differs from what checkpoint #${head.checkpoint} signed`, e.seq);
      }
    }
  }

  private checkForm(e: StoredEvent): void {
    const clear = e.format === FORMAT_CLEAR && typeof e.body === 'string';
    const sealed =
      e.format === FORMAT_ENCRYPTED && Buffer.isBuffer(e.body) && e.body.length >= ENVELOPE_OVERHEAD;
    if (!clear && !sealed)
      this.add('modified', `seq ${e.seq} is stored in the wrong form (format ${e.format})`, e.seq);
  }

  private link(e: StoredEvent): void {
    const header = { seq: e.seq, atUs: e.atUs, offsetUs: e.offsetUs, format: e.format, kind: e.kind };
    const computed = eventHash(this.prev, header, bodyOf(e));
    const stored = Buffer.isBuffer(e.hash) ? e.hash : null;
    if (!stored) {
      this.add('modified', `seq ${e.seq} has no hash: it was removed`, e.seq);
      this.outcomes?.halt();
    } else if (!computed.equals(stored) && !this.afterGap) {
      this.broken.add({ event: e, prev: this.prev, computed });
      this.outcomes?.halt();
    }
    this.prev = stored ?? computed;
  }

  finish(): void {
    if (this.chained) this.broken.report((kind, detail, seq) => this.add(kind, detail, seq));
    this.checkRow();
    this.outcomes?.finish();
    if (this.chained) {
      this.checkEnd();
      this.checkSigned();
    }
    if (this.s.dataKey && this.ctx.keyring) {
      const problem = checkDataKey(this.s, this.ctx.keyring);
      if (problem) this.add('bad-key', problem);
    } else if (!this.s.dataKey && this.encryptedEvents > 0) {
      this.add('deleted', "the session's data key was deleted: its events can no longer be decrypted");
    }
  }

  private checkRow(): void {
    const s = this.s;
    if (this.events === 0 && this.chained) {
      this.add('truncated', 'all its events were deleted');
      return;
    }
    if (s.lastSeq > this.maxSeq) {
      this.add(
        'truncated',
        `events after seq ${this.maxSeq} were deleted (the session row records ${s.lastSeq})`,
        this.maxSeq + 1,
      );
    } else if (s.lastSeq < this.maxSeq) {
      this.add(
        'inserted',
        `events were added after seq ${s.lastSeq} (the session row records ${s.lastSeq})`,
        s.lastSeq + 1,
      );
    } else if (s.events !== this.events || s.statements !== this.statements || s.errors !== this.errors) {
      this.add('modified', "the session row's counters do not match its events");
    }
    if (this.application !== undefined && s.reportedApplication !== this.application) {
      this.add('modified', "the session row's application does not match its last client event");
    }
    if (this.chained && this.last) {
      const lastHash = this.last.hash;
      if (!(Buffer.isBuffer(s.headHash) && Buffer.isBuffer(lastHash) && s.headHash.equals(lastHash))) {
        this.add('modified', "the session row's chain head does not match its last event");
      }
    }
  }

  private checkEnd(): void {
    const s = this.s;
    const lastKind = this.last?.kind;
    if (s.endedAtUs === null) {
      if (s.seal !== null || s.sealNo !== null)
        this.add('unsealed', 'the session is marked open but carries a seal');
      if (lastKind === 'end') this.add('modified', 'the session has its end event but is marked open');
      return;
    }
    if (lastKind !== 'end') {
      this.add(
        'truncated',
        `the session ended but its last event (seq ${this.maxSeq}) is not its end`,
        this.maxSeq,
      );
    } else if (this.last!.atUs !== s.endedAtUs) {
      this.add('modified', "the session row's end time does not match its end event", this.maxSeq);
    }
    if (!Buffer.isBuffer(s.seal) || s.sealNo === null) {
      this.add('unsealed', 'the session ended but has no seal');
      return;
    }
    if (!Number.isSafeInteger(s.sealNo) || s.sealNo < 1 || !Number.isSafeInteger(s.endedAtUs)) {
      this.add('modified', "the session row's seal number or end time hold values dbtape never writes");
      return;
    }
    const prevSeal = this.prevSeal(s.sealNo);
    if (!prevSeal) return; // The missing predecessor is reported store-wide.
    const seal = sealHash({
      prevSeal,
      sealNo: s.sealNo,
      sessionId: this.id,
      lastHash: this.prev,
      count: this.maxSeq,
      endedAtUs: s.endedAtUs,
      reason: s.endReason ?? '',
    });
    if (!seal.equals(s.seal)) {
      this.add(
        'modified',
        `the seal (#${s.sealNo}) does not match the session: its end, events or order changed`,
      );
    }
  }

  /** The previous session's seal: as signed if a checkpoint has it (so damage there is not blamed here). */
  private prevSeal(sealNo: number): Buffer | null {
    if (sealNo === 1) return ZERO_HASH;
    const signed = this.ctx.signedSeals.get(sealNo - 1)?.seal;
    if (signed) return signed;
    const stored = this.ctx.sealsByNo.get(sealNo - 1)?.seal;
    return Buffer.isBuffer(stored) ? stored : null;
  }

  private checkSigned(): void {
    const signed = this.ctx.signedById.get(this.id);
    if (signed) {
      const s = this.s;
      if (!Buffer.isBuffer(s.seal) || s.sealNo === null) {
        this.add(
          'unsealed',
          `checkpoint #${signed.checkpoint} signed this session as sealed, but it has no seal now`,
        );
      } else if (s.sealNo !== signed.sealNo) {
        this.add(
          'reordered',
          `sealed as #${s.sealNo}, but checkpoint #${signed.checkpoint} signed it as #${signed.sealNo}`,
        );
      } else if (!s.seal.equals(signed.seal)) {
        this.add('modified', `its seal differs from what checkpoint #${signed.checkpoint} signed`);
      }
    }
    const head = this.ctx.openHeads.get(this.id);
    if (head && !this.headSeen && !signed) {
      this.add(
        'truncated',
        `seq ${head.seq}, signed by checkpoint #${head.checkpoint}, is missing`,
        head.seq,
      );
    }
  }
}

function validHeader(e: StoredEvent): boolean {
  return (
    Number.isSafeInteger(e.seq) &&
    Number.isSafeInteger(e.atUs) &&
    Number.isSafeInteger(e.offsetUs) &&
    Number.isInteger(e.format) &&
    e.format >= 0 &&
    e.format <= 255 &&
    typeof e.kind === 'string'
  );
}

/** The application a `client` event puts in the session row: null when encrypted; undefined when unreadable. */
function clientApplication(e: StoredEvent): string | null | undefined {
  if (e.format === FORMAT_ENCRYPTED) return null;
  if (typeof e.body !== 'string') return undefined;
  try {
    const application = (JSON.parse(e.body) as { application?: unknown }).application;
    return typeof application === 'string' ? application : undefined;
  } catch {
    return undefined;
  }
}
