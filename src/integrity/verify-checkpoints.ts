/**
 * Checks the chain of signed checkpoints: numbering, hashes, signatures by a trusted key, each
 * one pointing at its predecessor, continuous coverage of seal numbers, and the store's head
 * naming the last one. Returns what they vouch for, for the session checks to compare against.
 */
import type { KeyObject } from 'node:crypto';
import { type CheckpointBody, checkpointHash, checkpointMessage, parseCheckpoint } from './checkpoint.js';
import type { FindingList } from './findings.js';
import { verifySignature } from './signing-key.js';
import type { IntegritySource, StoredCheckpoint, StoredState } from './source.js';

export interface SignedSeal {
  readonly id: string;
  readonly seal: Buffer;
  readonly checkpoint: number;
}

export interface SignedHead {
  readonly seq: number;
  readonly hash: Buffer;
  readonly checkpoint: number;
}

export interface CheckpointWalk {
  readonly count: number;
  /** Seal number → session and seal, as listed by a checkpoint. */
  readonly seals: Map<number, SignedSeal>;
  /** Session id → its chain head in the last checkpoint that saw it open (and none lists it sealed). */
  readonly openHeads: Map<string, SignedHead>;
  readonly last: { no: number; atUs: number; hash: string; to: number } | null;
}

export async function walkCheckpoints(
  source: IntegritySource,
  state: StoredState | null,
  trusted: ReadonlyMap<string, KeyObject>,
  findings: FindingList,
): Promise<CheckpointWalk> {
  const seals = new Map<number, SignedSeal>();
  const openHeads = new Map<string, SignedHead>();
  let expected = 1;
  let prev: { row: StoredCheckpoint; body: CheckpointBody | null } | null = null;
  let count = 0;
  for await (const page of source.checkpoints()) {
    for (const row of page) {
      count++;
      if (row.no !== expected) {
        const gap = row.no > expected ? `${expected}${row.no - 1 > expected ? `–${row.no - 1}` : ''}` : '';
        findings.add(
          row.no > expected ? 'missing-checkpoint' : 'modified',
          row.no > expected ? `checkpoint(s) #${gap} were deleted` : `checkpoint #${row.no} is out of order`,
          { checkpoint: row.no },
        );
      }
      const body = checkOne(row, prev, trusted, findings);
      if (body) record(body, seals, openHeads);
      prev = { row, body };
      expected = row.no + 1;
    }
  }
  checkHead(state, prev?.row ?? null, findings);
  const last = prev
    ? {
        no: prev.row.no,
        atUs: prev.row.atUs,
        hash: Buffer.isBuffer(prev.row.hash) ? prev.row.hash.toString('hex') : '',
        to: prev.body?.to ?? 0,
      }
    : null;
  return { count, seals, openHeads, last };
}

function checkOne(
  row: StoredCheckpoint,
  prev: { row: StoredCheckpoint; body: CheckpointBody | null } | null,
  trusted: ReadonlyMap<string, KeyObject>,
  findings: FindingList,
): CheckpointBody | null {
  const at = { checkpoint: row.no };
  if (typeof row.body !== 'string') {
    findings.add('modified', `checkpoint #${row.no} is not stored as text`, at);
    return null;
  }
  if (!Buffer.isBuffer(row.hash) || !checkpointHash(row.body).equals(row.hash)) {
    findings.add('modified', `checkpoint #${row.no}: its content does not match its hash`, at);
  }
  const key = trusted.get(row.keyId);
  if (!key) {
    findings.add(
      'bad-signature',
      `checkpoint #${row.no} is signed by key ${row.keyId}, which is not trusted`,
      at,
    );
  } else if (
    !Buffer.isBuffer(row.signature) ||
    !verifySignature(key, checkpointMessage(row.body), row.signature)
  ) {
    findings.add('bad-signature', `checkpoint #${row.no}: the signature does not verify`, at);
  }
  const body = parseCheckpoint(row.body);
  if (!body) {
    findings.add('modified', `checkpoint #${row.no} is not a readable checkpoint`, at);
    return null;
  }
  if (body.no !== row.no || body.key !== row.keyId || body.atUs !== row.atUs) {
    findings.add('modified', `checkpoint #${row.no}: its columns disagree with its signed content`, at);
  }
  if (prev) {
    const prevHash = Buffer.isBuffer(prev.row.hash) ? prev.row.hash.toString('hex') : null;
    if (prev.row.no === row.no - 1 && body.prev !== prevHash) {
      findings.add('modified', `checkpoint #${row.no} does not follow checkpoint #${prev.row.no}`, at);
    }
    if (prev.body && prev.row.no === row.no - 1 && body.from !== prev.body.to + 1) {
      findings.add(
        'modified',
        `checkpoint #${row.no} covers seals from #${body.from}, but #${prev.row.no} ended at #${prev.body.to}`,
        at,
      );
    }
  } else if (row.no === 1 && (body.prev !== null || body.from !== 1)) {
    findings.add('modified', 'checkpoint #1 does not start the chain', at);
  }
  return body;
}

function record(
  body: CheckpointBody,
  seals: Map<number, SignedSeal>,
  openHeads: Map<string, SignedHead>,
): void {
  body.sessions.forEach(([id, seal], i) => {
    seals.set(body.from + i, { id, seal: Buffer.from(seal, 'hex'), checkpoint: body.no });
    openHeads.delete(id);
  });
  for (const [id, seq, hash] of body.open) {
    openHeads.set(id, { seq, hash: Buffer.from(hash, 'hex'), checkpoint: body.no });
  }
}

function checkHead(state: StoredState | null, last: StoredCheckpoint | null, findings: FindingList): void {
  if (!state) return;
  const lastNo = last?.no ?? 0;
  if (state.checkpointNo > lastNo) {
    findings.add(
      'missing-checkpoint',
      `the store's head names checkpoint #${state.checkpointNo}, but the last one stored is #${lastNo}: the newest checkpoint(s) were deleted`,
      { checkpoint: state.checkpointNo },
    );
  } else if (state.checkpointNo < lastNo) {
    findings.add(
      'modified',
      `the store's head names checkpoint #${state.checkpointNo}, but checkpoints go up to #${lastNo}`,
      { checkpoint: lastNo },
    );
  } else if (last && !(Buffer.isBuffer(state.checkpointHash) && state.checkpointHash.equals(last.hash))) {
    findings.add('modified', `the store's head does not match checkpoint #${lastNo}`, { checkpoint: lastNo });
  }
}
