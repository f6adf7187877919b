/**
 * The master keyring named by `store.encryption_key_file`: numbered AES-256 keys, the highest
 * number current. Master keys only wrap data keys (one random key per session, and the store's
 * search-index key); rotation adds a key and re-wraps the data keys, never the recordings.
 *
 * File format (text, mode 0600):
 *
 *   # comment lines
 *   1 <base64 of 32 bytes>
 *   2 <base64 of 32 bytes>
 *
 * A file holding only one key (base64 or 64 hex digits on one line, or 32 raw bytes, e.g. from
 * `openssl rand 32`) is read as key version 1.
 */
import { createHash, randomBytes } from 'node:crypto';
import { KEY_BYTES, open, seal } from './aead.js';
import { IntegrityError } from './errors.js';
import { createSecretFile, readKeyFile, replaceSecretFile } from './key-files.js';

const HEADER = [
  '# dbtape master keyring: AES-256 keys, base64, one per line after its version number.',
  '# Keep it secret and backed up: without it the encrypted recordings cannot be read.',
  '# The highest version is current; older ones unwrap data keys wrapped before a rotation.',
];

export class Keyring {
  readonly current: number;

  constructor(private readonly keys: ReadonlyMap<number, Buffer>) {
    if (keys.size === 0) throw new Error('a keyring needs at least one key');
    this.current = Math.max(...keys.keys());
  }

  get versions(): number[] {
    return [...this.keys.keys()].sort((a, b) => a - b);
  }

  has(version: number): boolean {
    return this.keys.has(version);
  }

  /** Wraps a data key under the current master key. */
  wrap(dataKey: Buffer, aad: Buffer): { version: number; wrapped: Buffer } {
    return { version: this.current, wrapped: seal(this.keys.get(this.current)!, dataKey, aad) };
  }

  unwrap(version: number, wrapped: Buffer, aad: Buffer, what: string): Buffer {
    const key = this.keys.get(version);
    if (!key) {
      throw new IntegrityError(
        'DBTAPE_KEY_VERSION_UNKNOWN',
        `dbtape: ${what} is wrapped by master key version ${version}, which the keyring does not hold (it has ${this.versions.join(', ')}); use the keyring file from before the key was removed`,
      );
    }
    return open(key, wrapped, aad, what);
  }

  /** A short public fingerprint of a key version, for messages: never the key itself. */
  fingerprint(version: number): string {
    const key = this.keys.get(version);
    if (!key) return '?';
    return createHash('sha256').update('dbtape.master-fingerprint\0').update(key).digest('hex').slice(0, 16);
  }

  /** A keyring with one more, new, current key. */
  withNewKey(): Keyring {
    const next = new Map(this.keys);
    next.set(this.current + 1, randomBytes(KEY_BYTES));
    return new Keyring(next);
  }

  format(): string {
    const lines = this.versions.map((v) => `${v} ${this.keys.get(v)!.toString('base64')}`);
    return `${[...HEADER, ...lines].join('\n')}\n`;
  }
}

export function newKeyring(): Keyring {
  return new Keyring(new Map([[1, randomBytes(KEY_BYTES)]]));
}

export function parseKeyring(content: Buffer, source: string): Keyring {
  if (content.length === KEY_BYTES && !/^[\x20-\x7e\s]*$/.test(content.toString('latin1'))) {
    return new Keyring(new Map([[1, Buffer.from(content)]]));
  }
  const lines = content
    .toString('utf8')
    .split(/\r?\n/)
    .map((l) => l.trim())
    .filter((l) => l !== '' && !l.startsWith('#'));
  const keys = new Map<number, Buffer>();
  if (lines.length === 1 && !/\s/.test(lines[0]!)) {
    keys.set(1, decodeKey(lines[0]!, source, 1));
  } else {
    lines.forEach((line, i) => {
      const m = /^(\d{1,9})\s+(\S+)$/.exec(line);
      if (!m) throw invalid(source, `line ${i + 1} of the keys is not "<version> <base64 key>"`);
      const version = Number(m[1]);
      if (version < 1 || keys.has(version)) throw invalid(source, `key version ${version} is repeated or 0`);
      keys.set(version, decodeKey(m[2]!, source, version));
    });
  }
  if (keys.size === 0) throw invalid(source, 'it holds no key');
  return new Keyring(keys);
}

export function loadKeyring(path: string): Keyring {
  return parseKeyring(readKeyFile(path, 'encryption key file'), path);
}

export function createKeyringFile(path: string): Keyring {
  const ring = newKeyring();
  createSecretFile(path, ring.format());
  return ring;
}

/** Adds a new current key to the keyring file (atomically) and returns the new keyring. */
export function rotateKeyringFile(path: string): Keyring {
  const ring = loadKeyring(path).withNewKey();
  replaceSecretFile(path, ring.format());
  return ring;
}

function decodeKey(text: string, source: string, version: number): Buffer {
  const key = /^[0-9a-f]{64}$/i.test(text) ? Buffer.from(text, 'hex') : Buffer.from(text, 'base64');
  if (key.length !== KEY_BYTES) {
    throw invalid(source, `key version ${version} is not 32 bytes of base64 or 64 hex digits`);
  }
  return key;
}

function invalid(source: string, why: string): IntegrityError {
  return new IntegrityError(
    'DBTAPE_KEY_FILE_INVALID',
    `dbtape: ${source} is not a usable encryption keyring: ${why} (make one with dbtape keys generate)`,
  );
}
