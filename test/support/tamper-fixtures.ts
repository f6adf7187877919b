/** What the tamper tests of both stores share: a store that fails on demand, and random damage. */
import type { WriteBatch, WriteOptions } from '../../src/store/session-store.js';
import { DelegatingStore } from './delegating-store.js';
import type { Rng } from './random.js';

/** Fails writes on demand, to record sessions with gaps. */
export class FlakyStore extends DelegatingStore {
  failing = false;
  async writeBatch(batch: WriteBatch, options?: WriteOptions): Promise<void> {
    if (this.failing) throw Object.assign(new Error('disk full'), { code: 'SQLITE_FULL' });
    return this.inner.writeBatch(batch, options);
  }
  checkpoint = (atUs: number) => this.inner.checkpoint!(atUs);
}

export const pick = <T>(rng: Rng, list: readonly T[]): T => list[Math.floor(rng() * list.length)]!;
export const int = (rng: Rng, lo: number, hi: number): number => lo + Math.floor(rng() * (hi - lo + 1));

/** The buffer with one bit of one byte flipped. */
export function flipByte(rng: Rng, b: Buffer): Buffer {
  const out = Buffer.from(b);
  const i = int(rng, 0, out.length - 1);
  out[i] = out[i]! ^ (1 << int(rng, 0, 7));
  return out;
}
