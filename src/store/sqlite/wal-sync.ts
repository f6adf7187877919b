/**
 * Strict durability without blocking the event loop. The store commits with synchronous=NORMAL
 * (in WAL mode a commit then writes its frames to the -wal file but does not fsync), and sync()
 * fdatasyncs the -wal file on libuv's thread pool. Once that returns, every commit made before
 * sync() was called is on disk: SQLite recovers a WAL up to its last valid commit frame, and it
 * syncs the WAL header itself whenever it restarts the WAL after a checkpoint
 * (https://www.sqlite.org/pragma.html#pragma_synchronous, https://www.sqlite.org/walformat.html).
 * The proxy keeps working during the fsync, and callers that arrive meanwhile share the next one:
 * that is the group commit across sessions.
 */
import { closeSync, fdatasync, fdatasyncSync, fstatSync, fsyncSync, openSync, statSync } from 'node:fs';
import { dirname } from 'node:path';
import { StoreError } from '../errors.js';

export class WalSync {
  private fd: number | null = null;
  private ino = -1;
  private current: Promise<void> | null = null;
  private queued: Promise<void> | null = null;
  syncs = 0;

  constructor(private readonly dbPath: string) {}

  /** Resolves once every commit made before this call is durable. */
  sync(): Promise<void> {
    if (this.current === null) {
      this.current = this.run().finally(() => {
        this.current = null;
      });
      return this.current;
    }
    // An fsync is running, but it may have started before the caller's commit: wait for the next.
    this.queued ??= this.current
      .catch(() => {})
      .then(() => {
        this.queued = null;
        return this.sync();
      });
    return this.queued;
  }

  /**
   * sync() that blocks the calling thread: for the store's worker thread, whose only work is the
   * store. It saves the hand-offs to and from libuv's thread pool on every strict group commit,
   * which on a loaded machine cost more than the fsync itself.
   */
  syncNow(): void {
    try {
      fdatasyncSync(this.walFd());
    } catch (err) {
      throw syncFailed(err);
    }
    this.syncs++;
  }

  close(): void {
    if (this.fd !== null) closeSync(this.fd);
    this.fd = null;
  }

  private async run(): Promise<void> {
    let fd: number;
    try {
      fd = this.walFd();
    } catch (err) {
      throw syncFailed(err);
    }
    await new Promise<void>((resolve, reject) => {
      fdatasync(fd, (err) => (err ? reject(syncFailed(err)) : resolve()));
    });
    this.syncs++;
  }

  /** The -wal file's descriptor, reopened if SQLite replaced the file. */
  private walFd(): number {
    const wal = `${this.dbPath}-wal`;
    let ino: number;
    try {
      ino = statSync(wal).ino;
    } catch (err) {
      // No WAL (never written, or removed by a clean close): the data is in the main file.
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') return this.open(this.dbPath, -2);
      throw err;
    }
    if (this.fd !== null && this.ino === ino && fstatSync(this.fd).ino === ino) return this.fd;
    const first = this.fd === null;
    const fd = this.open(wal, ino);
    // The WAL's directory entry must survive a power loss too: sync the folder once.
    if (first) syncDir(dirname(wal));
    return fd;
  }

  private open(path: string, ino: number): number {
    if (this.fd !== null && this.ino === ino) return this.fd;
    this.close();
    this.fd = openSync(path, 'r');
    this.ino = ino;
    return this.fd;
  }
}

/** fsync of a directory, so that a file created in it survives a power loss. */
export function syncDir(dir: string): void {
  let fd: number | undefined;
  try {
    fd = openSync(dir, 'r');
    fsyncSync(fd);
  } catch {
    // Not every platform can fsync a directory.
  } finally {
    if (fd !== undefined) closeSync(fd);
  }
}

function syncFailed(err: unknown): StoreError {
  const e = err as NodeJS.ErrnoException;
  return Object.assign(
    new StoreError(
      'DBTAPE_STORE_SYNC_FAILED',
      `dbtape: the session store could not make its last writes durable (fsync: ${e?.code ?? e?.message ?? String(err)})`,
      { cause: err },
    ),
    { errno: e?.code },
  );
}
