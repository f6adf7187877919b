/**
 * Password verifiers for `users[].password`: one line holding everything dbtape needs to check a
 * password over either protocol, without ever storing the password.
 *
 *   SCRAM-SHA-256$<iter>:<salt>$<StoredKey>:<ServerKey>          (pg_authid.rolpassword format)
 *   ;mysql_native_password$<hex SHA1(SHA1(password))>            (MySQL's mysql_native_password)
 *   ;caching_sha2_password$<hex SHA256(SHA256(password))>        (caching_sha2_password fast path)
 *
 * The SCRAM part alone is valid (PostgreSQL clients only). The PostgreSQL crypto is imported from
 * protocol/postgres so the verifier and the SCRAM exchange can never disagree on SASLprep or keys.
 */
import { createHash, randomBytes } from 'node:crypto';
import type { ScramVerifier, Verifiers } from '../model/identity.js';
import { deriveScramKeys, SCRAM_DEFAULT_ITERATIONS, SCRAM_SALT_LENGTH } from '../protocol/postgres/scram.js';

export class VerifierError extends Error {
  readonly code = 'DBTAPE_VERIFIER';
  override name = 'VerifierError';
}

const SCRAM_PREFIX = 'SCRAM-SHA-256$';
const MYSQL_NATIVE = 'mysql_native_password';
const CACHING_SHA2 = 'caching_sha2_password';
const MAX_ITERATIONS = 1_000_000;
const BASE64 = /^(?:[A-Za-z0-9+/]{4})*(?:[A-Za-z0-9+/]{2}==|[A-Za-z0-9+/]{3}=)?$/;

/** SHA1(SHA1(password)): what MySQL stores for mysql_native_password (without the leading '*'). */
export function mysqlNativeHash(password: string): Buffer {
  const once = createHash('sha1').update(password, 'utf8').digest();
  return createHash('sha1').update(once).digest();
}

/** SHA256(SHA256(password)): what caching_sha2_password's fast path compares against. */
export function cachingSha2Hash(password: string): Buffer {
  const once = createHash('sha256').update(password, 'utf8').digest();
  return createHash('sha256').update(once).digest();
}

/** Make a fresh verifier for `password`, with a random salt. */
export function makeScramVerifier(password: string, iterations = SCRAM_DEFAULT_ITERATIONS): ScramVerifier {
  if (!Number.isInteger(iterations) || iterations < 1 || iterations > MAX_ITERATIONS) {
    throw new VerifierError(`iterations must be an integer from 1 to ${MAX_ITERATIONS}`);
  }
  const salt = randomBytes(SCRAM_SALT_LENGTH);
  const { storedKey, serverKey } = deriveScramKeys(password, salt, iterations);
  return { iterations, salt, storedKey, serverKey };
}

/** pg_authid's text form of a SCRAM-SHA-256 verifier. */
export function formatScramVerifier(v: ScramVerifier): string {
  const b64 = (b: Buffer) => b.toString('base64');
  return `${SCRAM_PREFIX}${v.iterations}:${b64(v.salt)}$${b64(v.storedKey)}:${b64(v.serverKey)}`;
}

/** The one-line value for `users[].password`: every verifier, SCRAM first. */
export function hashPassword(password: string, opts: { iterations?: number } = {}): string {
  if (password.length === 0) throw new VerifierError('an empty password cannot be hashed');
  const scram = formatScramVerifier(makeScramVerifier(password, opts.iterations));
  const native = mysqlNativeHash(password).toString('hex');
  const sha2 = cachingSha2Hash(password).toString('hex');
  return `${scram};${MYSQL_NATIVE}$${native};${CACHING_SHA2}$${sha2}`;
}

function base64Field(value: string, what: string, length?: number): Buffer {
  if (value.length === 0 || !BASE64.test(value)) throw new VerifierError(`${what} is not valid base64`);
  const buf = Buffer.from(value, 'base64');
  if (length !== undefined && buf.length !== length) {
    throw new VerifierError(`${what} must be ${length} bytes, not ${buf.length}`);
  }
  return buf;
}

/** Parse `SCRAM-SHA-256$<iter>:<salt>$<StoredKey>:<ServerKey>`. Messages never repeat the input. */
export function parseScramVerifier(s: string): ScramVerifier {
  if (!s.startsWith(SCRAM_PREFIX)) throw new VerifierError('does not start with SCRAM-SHA-256$');
  const m = /^([0-9]{1,7}):([^$:]*)\$([^$:]*):([^$:]*)$/.exec(s.slice(SCRAM_PREFIX.length));
  if (!m)
    throw new VerifierError('SCRAM verifier is not in the form SCRAM-SHA-256$<iter>:<salt>$<key>:<key>');
  const iterations = Number(m[1]);
  if (iterations < 1 || iterations > MAX_ITERATIONS) {
    throw new VerifierError(`SCRAM iteration count must be from 1 to ${MAX_ITERATIONS}`);
  }
  return {
    iterations,
    salt: base64Field(m[2], 'SCRAM salt'),
    storedKey: base64Field(m[3], 'SCRAM StoredKey', 32),
    serverKey: base64Field(m[4], 'SCRAM ServerKey', 32),
  };
}

function hexField(value: string, what: string, length: number): Buffer {
  if (!new RegExp(`^[0-9a-fA-F]{${length * 2}}$`).test(value)) {
    throw new VerifierError(`${what} must be ${length * 2} hex digits`);
  }
  return Buffer.from(value, 'hex');
}

/** Parse a `users[].password` value. Throws VerifierError, whose message never holds the input. */
export function parseVerifiers(s: string): Verifiers {
  const [scramPart, ...rest] = s.trim().split(';');
  const scramSha256 = parseScramVerifier(scramPart);
  let mysqlNative: Buffer | null = null;
  let cachingSha2: Buffer | null = null;
  rest.forEach((part, i) => {
    const dollar = part.indexOf('$');
    const kind = dollar < 0 ? '' : part.slice(0, dollar);
    const value = part.slice(dollar + 1);
    if (kind === MYSQL_NATIVE && !mysqlNative) mysqlNative = hexField(value, MYSQL_NATIVE, 20);
    else if (kind === CACHING_SHA2 && !cachingSha2) cachingSha2 = hexField(value, CACHING_SHA2, 32);
    else {
      throw new VerifierError(
        `part ${i + 2} is not a known verifier or is repeated (expected ${MYSQL_NATIVE}$… or ${CACHING_SHA2}$…)`,
      );
    }
  });
  return { scramSha256, mysqlNative, cachingSha2 };
}
