/** A store whose writes fail on demand, like a full disk (SQLITE_FULL); reads stay real. */
import type { WriteBatch, WriteOptions } from '../../src/store/session-store.js';
import { DelegatingStore } from './delegating-store.js';

export class FullDiskStore extends DelegatingStore {
  failing = false;
  async writeBatch(batch: WriteBatch, options?: WriteOptions): Promise<void> {
    if (this.failing) throw fullDisk();
    await this.inner.writeBatch(batch, options);
  }
  async sync(): Promise<void> {
    if (this.failing) throw fullDisk();
    return this.inner.sync?.();
  }
}

function fullDisk(): Error {
  return Object.assign(new Error('database or disk is full'), { code: 'SQLITE_FULL' });
}
