/**
 * Writing and reading secret key files: created with mode 0600 (their folder 0700 when dbtape
 * creates it), never overwritten in place (a new file is written beside and renamed over, so a
 * crash leaves the old file or the new one, never half of one).
 */
import {
  closeSync,
  fsyncSync,
  mkdirSync,
  openSync,
  readFileSync,
  renameSync,
  statSync,
  writeSync,
} from 'node:fs';
import { dirname } from 'node:path';
import { IntegrityError } from './errors.js';

/** Creates `path` with `content`; refuses if it exists. */
export function createSecretFile(path: string, content: string | Buffer, mode = 0o600): void {
  mkdirSync(dirname(path), { recursive: true, mode: 0o700 });
  let fd: number;
  try {
    fd = openSync(path, 'wx', mode);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'EEXIST') {
      throw new IntegrityError(
        'DBTAPE_KEY_FILE_EXISTS',
        `dbtape: ${path} already exists; dbtape never overwrites a key file (move it away first if you really mean to replace it)`,
      );
    }
    throw err;
  }
  try {
    writeSync(fd, typeof content === 'string' ? Buffer.from(content) : content);
    fsyncSync(fd);
  } finally {
    closeSync(fd);
  }
  syncFolder(dirname(path));
}

/** Replaces `path` atomically with `content`, keeping its 0600 mode. */
export function replaceSecretFile(path: string, content: string): void {
  const tmp = `${path}.new-${process.pid}`;
  const fd = openSync(tmp, 'wx', 0o600);
  try {
    writeSync(fd, content);
    fsyncSync(fd);
  } finally {
    closeSync(fd);
  }
  renameSync(tmp, path);
  syncFolder(dirname(path));
}

export function readKeyFile(path: string, what: string): Buffer {
  try {
    return readFileSync(path);
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    const why = code === 'ENOENT' ? 'it does not exist (create it with dbtape keys generate)' : String(err);
    throw new IntegrityError('DBTAPE_KEY_FILE_MISSING', `dbtape: cannot read the ${what} ${path}: ${why}`, {
      cause: err,
    });
  }
}

/** True when others than the owner may read the file (a warning, not an error: the admin decides). */
export function readableByOthers(path: string): boolean {
  try {
    return (statSync(path).mode & 0o077) !== 0;
  } catch {
    return false;
  }
}

function syncFolder(folder: string): void {
  // The new directory entry must be durable too, or a crash could lose the file itself.
  let fd: number | undefined;
  try {
    fd = openSync(folder, 'r');
    fsyncSync(fd);
  } catch {
    // Some platforms cannot fsync a directory; the file's own fsync is the best we get there.
  } finally {
    if (fd !== undefined) closeSync(fd);
  }
}
