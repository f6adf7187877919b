/**
 * `dbtape verify`: everything a store's integrity records can tell, checked in one pass.
 *
 * 1. The signed checkpoints (verify-checkpoints.ts): what they vouch for.
 * 2. Every session (verify-session.ts): chain, seal, counters, against the checkpoints.
 * 3. Store-wide: every seal number present (no whole session deleted), the store's head
 *    naming the newest seal, no events left from a deleted session.
 *
 * It reads stored bytes only, so it works without the encryption key; with the keyring it also
 * checks that data keys unwrap.
 */
import type { KeyObject } from 'node:crypto';
import { type Finding, FindingList } from './findings.js';
import type { Keyring } from './keyring.js';
import { type TrustedKey, trustedKeyFromDer } from './signing-key.js';
import type { IntegritySource, StoredSession, StoredState } from './source.js';
import { type CheckpointWalk, walkCheckpoints } from './verify-checkpoints.js';
import { SessionChecker, type SessionContext } from './verify-session.js';

export interface VerifyOptions {
  /** Check this session only (and the checkpoints); default: everything. */
  readonly sessionId?: string;
  /** Keys whose signatures count; empty: the keys the store itself records (weaker, and said so). */
  readonly trustedKeys?: readonly TrustedKey[];
  readonly keyring?: Keyring | null;
  /** Sessions checked so far, of how many. */
  readonly onProgress?: (done: number, total: number) => void;
}

export interface VerifyReport {
  readonly findings: readonly Finding[];
  /** Findings in all, including those left out of `findings` by the per-session cap. */
  readonly problems: number;
  readonly sessions: number;
  readonly events: number;
  readonly sealed: number;
  readonly open: number;
  /** Sessions recorded before chaining existed: not checked. */
  readonly legacy: number;
  readonly checkpoints: number;
  readonly lastCheckpoint: CheckpointWalk['last'];
  /** Sealed sessions newer than the last checkpoint: chained and sealed, not signed yet. */
  readonly unsigned: number;
  /** Where the trusted signing keys came from. */
  readonly trust: 'given' | 'store';
  /** Strict-mode batches still in the journal (IntegritySource.journaled): not checked yet. */
  readonly journaled: number;
}

export class VerifyError extends Error {
  readonly code = 'DBTAPE_VERIFY_NO_SESSION';
}

export function verifyStore(source: IntegritySource, options: VerifyOptions = {}): Promise<VerifyReport> {
  return source.snapshot(() => verifyIn(source, options));
}

async function verifyIn(source: IntegritySource, options: VerifyOptions): Promise<VerifyReport> {
  const findings = new FindingList();
  const state = await source.state();
  if (!state) findings.add('modified', "the store's integrity head is missing: it was deleted");
  const given = options.trustedKeys ?? [];
  const trusted = new Map<string, KeyObject>(given.map((k) => [k.keyId, k.key]));
  if (given.length === 0) {
    for (const k of await source.signingKeys()) {
      try {
        const t = trustedKeyFromDer(k.publicKeyDer);
        trusted.set(t.keyId, t.key);
      } catch {
        findings.add('modified', `the recorded public key ${k.keyId} is not a valid key`);
      }
    }
  }
  const walk = await walkCheckpoints(source, state, trusted, findings);
  const sessions = await loadSessions(source);
  const ctx = context(findings, sessions, walk, state, options.keyring ?? null);
  const counts = { events: 0, done: 0 };
  const total = options.sessionId ? 1 : sessions.bySid.size;
  const finished = (c: SessionChecker): void => {
    c.finish();
    counts.events += c.events;
    options.onProgress?.(++counts.done, total);
  };
  if (options.sessionId) {
    const s = sessions.byId.get(options.sessionId);
    if (!s) throw new VerifyError(`dbtape: no session ${options.sessionId} in this store`);
    const checker = new SessionChecker(s, ctx);
    for await (const page of source.events(s.sid)) for (const e of page) checker.feed(e);
    finished(checker);
  } else {
    await checkAllSessions(source, sessions.bySid, ctx, findings, finished);
    checkStoreWide(findings, sessions, walk, state);
  }
  const list = [...sessions.bySid.values()];
  const mine = options.sessionId ? list.filter((s) => s.meta.id === options.sessionId) : list;
  const lastTo = walk.last?.to ?? 0;
  return {
    findings: findings.all,
    problems: findings.count,
    sessions: mine.length,
    events: counts.events,
    sealed: mine.filter((s) => s.sealNo !== null).length,
    open: mine.filter((s) => s.endedAtUs === null).length,
    legacy: mine.filter((s) => s.sid < ctx.chainFromSid).length,
    checkpoints: walk.count,
    lastCheckpoint: walk.last,
    unsigned: mine.filter((s) => s.sealNo !== null && s.sealNo > lastTo).length,
    trust: given.length > 0 ? 'given' : 'store',
    journaled: await source.journaled(),
  };
}

interface Sessions {
  readonly bySid: Map<number, StoredSession>;
  readonly byId: Map<string, StoredSession>;
  readonly bySealNo: Map<number, StoredSession>;
}

async function loadSessions(source: IntegritySource): Promise<Sessions> {
  const bySid = new Map<number, StoredSession>();
  const byId = new Map<string, StoredSession>();
  const bySealNo = new Map<number, StoredSession>();
  for await (const page of source.sessions()) {
    for (const s of page) {
      bySid.set(s.sid, s);
      byId.set(s.meta.id, s);
      if (s.sealNo !== null) bySealNo.set(s.sealNo, s);
    }
  }
  return { bySid, byId, bySealNo };
}

function context(
  findings: FindingList,
  sessions: Sessions,
  walk: CheckpointWalk,
  state: StoredState | null,
  keyring: Keyring | null,
): SessionContext {
  const signedById = new Map<
    string,
    SessionContext['signedById'] extends ReadonlyMap<string, infer V> ? V : never
  >();
  for (const [sealNo, s] of walk.seals) signedById.set(s.id, { ...s, sealNo });
  return {
    findings,
    sealsByNo: sessions.bySealNo,
    signedSeals: walk.seals,
    signedById,
    openHeads: walk.openHeads,
    // Without its head row, assume every session should be chained.
    chainFromSid: state?.chainFromSid ?? 0,
    keyring,
  };
}

/** Streams every event once, in (session, seq) order, feeding one checker at a time. */
async function checkAllSessions(
  source: IntegritySource,
  bySid: Map<number, StoredSession>,
  ctx: SessionContext,
  findings: FindingList,
  finished: (c: SessionChecker) => void,
): Promise<void> {
  const seen = new Set<number>();
  const orphans = new Map<number, number>();
  let sid: number | null = null;
  let checker: SessionChecker | null = null;
  for await (const page of source.events()) {
    for (const e of page) {
      if (sid !== e.sid) {
        if (checker) finished(checker);
        sid = e.sid;
        const s = bySid.get(e.sid);
        checker = s ? new SessionChecker(s, ctx) : null;
        seen.add(e.sid);
      }
      if (checker) checker.feed(e);
      else orphans.set(e.sid, (orphans.get(e.sid) ?? 0) + 1);
    }
  }
  if (checker) finished(checker);
  for (const [sid, s] of bySid) if (!seen.has(sid)) finished(new SessionChecker(s, ctx));
  for (const [sid, n] of orphans) {
    findings.add(
      'missing-session',
      `a session was deleted but ${n} of its events remain (internal sid ${sid})`,
    );
  }
}

function checkStoreWide(
  findings: FindingList,
  sessions: Sessions,
  walk: CheckpointWalk,
  state: StoredState | null,
): void {
  let maxFound = 0;
  for (const n of sessions.bySealNo.keys()) maxFound = Math.max(maxFound, n);
  let maxSigned = 0;
  for (const n of walk.seals.keys()) maxSigned = Math.max(maxSigned, n);
  const head = state?.sealNo ?? 0;
  const top = Math.max(head, maxFound, maxSigned);
  for (let n = 1; n <= top; n++) {
    if (sessions.bySealNo.has(n)) continue;
    const signed = walk.seals.get(n);
    const where = signed ? ` (checkpoint #${signed.checkpoint} signed it)` : '';
    if (signed && sessions.byId.has(signed.id)) continue; // Renumbered: reported with the session.
    const kind = n > maxFound ? 'truncated' : 'missing-session';
    const tail = n > maxFound ? ': the newest sealed sessions were deleted' : '';
    findings.add(kind, `sealed session #${n} is missing${where}${tail}`, { session: signed?.id ?? null });
  }
  if (state && maxFound > head) {
    findings.add(
      'modified',
      `the store's head names seal #${head}, but sessions are sealed up to #${maxFound}`,
    );
  }
  const newest = sessions.bySealNo.get(head);
  if (
    state &&
    newest &&
    !(Buffer.isBuffer(state.seal) && Buffer.isBuffer(newest.seal) && state.seal.equals(newest.seal))
  ) {
    findings.add('modified', `the store's head does not match the seal of session #${head}`, {
      session: newest.meta.id,
    });
  }
  if (state && !state.encrypted && [...sessions.bySid.values()].some((s) => s.dataKey !== null)) {
    findings.add('modified', "the store's head says it holds no encrypted recordings, but it does");
  }
  for (const [id, h] of walk.openHeads) {
    if (!sessions.byId.has(id)) {
      findings.add('missing-session', `checkpoint #${h.checkpoint} signed this open session, which is gone`, {
        session: id,
      });
    }
  }
}
