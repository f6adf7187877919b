/**
 * A SessionStore that hands every read to another store: tests extend it to fail or count writes
 * (writeBatch, and sync, checkpoint or integrity where they need them) and keep the reads real.
 */
import type { SessionStore, WriteBatch, WriteOptions } from '../../src/store/session-store.js';

export abstract class DelegatingStore implements SessionStore {
  /** Tests may put another store in its place: one restored from a backup, say. */
  constructor(public inner: SessionStore) {}
  abstract writeBatch(batch: WriteBatch, options?: WriteOptions): Promise<void>;
  listSessions(...a: Parameters<SessionStore['listSessions']>) {
    return this.inner.listSessions(...a);
  }
  getSession(...a: Parameters<SessionStore['getSession']>) {
    return this.inner.getSession(...a);
  }
  getEvents(...a: Parameters<SessionStore['getEvents']>) {
    return this.inner.getEvents(...a);
  }
  search(...a: Parameters<SessionStore['search']>) {
    return this.inner.search(...a);
  }
  closeOpenSessions(...a: Parameters<SessionStore['closeOpenSessions']>) {
    return this.inner.closeOpenSessions(...a);
  }
  close() {
    return this.inner.close();
  }
}
