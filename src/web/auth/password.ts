/**
 * Checks a dashboard password against the user's stored SCRAM-SHA-256 verifier (RFC 5802 section 3):
 * SaltedPassword = PBKDF2-SHA256(password, salt, i); ClientKey = HMAC(SaltedPassword, "Client Key");
 * StoredKey = SHA256(ClientKey), compared in constant time with the stored one. PBKDF2 runs on the
 * libuv pool so that a sign-in never stalls the proxy's event loop.
 *
 * PostgreSQL SASLprep's the password (RFC 4013) before PBKDF2 and falls back to the raw bytes when
 * SASLprep refuses it. web/ may not import protocol/ (DESIGN.md), so the mapping is re-stated here:
 * the RFC 4013 maps then NFKC. ASCII passwords, the usual case, are identical under both; for others
 * both candidates are tried, which also covers the raw-bytes fallback.
 */
import { createHash, createHmac, pbkdf2, randomBytes, timingSafeEqual } from 'node:crypto';
import { promisify } from 'node:util';
import type { ScramVerifier } from '../../model/identity.js';

const pbkdf2Async = promisify(pbkdf2);
const KEY_LENGTH = 32;

/** RFC 3454 C.1.2, non-ASCII space characters: mapped to U+0020 by RFC 4013 section 2.1. */
const NON_ASCII_SPACE = /[\u00a0\u1680\u2000-\u200b\u202f\u205f\u3000]/g;
/** RFC 3454 B.1, "commonly mapped to nothing": removed by RFC 4013 section 2.1. */
// biome-ignore lint/suspicious/noMisleadingCharacterClass: the combining marks of B.1 are removed one by one, as listed
const MAPPED_TO_NOTHING = /[\u00ad\u034f\u1806\u180b-\u180d\u200b-\u200d\u2060\ufe00-\ufe0f\ufeff]/g;

function saslprepCandidates(password: string): string[] {
  if (/^[\u0000-\u007f]*$/.test(password)) return [password];
  const prepped = password.replace(NON_ASCII_SPACE, ' ').replace(MAPPED_TO_NOTHING, '').normalize('NFKC');
  return prepped === password ? [password] : [prepped, password];
}

async function storedKeyOf(password: string, salt: Buffer, iterations: number): Promise<Buffer> {
  const salted = await pbkdf2Async(Buffer.from(password, 'utf8'), salt, iterations, KEY_LENGTH, 'sha256');
  const clientKey = createHmac('sha256', salted).update('Client Key').digest();
  return createHash('sha256').update(clientKey).digest();
}

export async function passwordMatches(verifier: ScramVerifier, password: string): Promise<boolean> {
  let ok = false;
  for (const candidate of saslprepCandidates(password)) {
    const key = await storedKeyOf(candidate, verifier.salt, verifier.iterations);
    if (key.length === verifier.storedKey.length && timingSafeEqual(key, verifier.storedKey)) ok = true;
    if (ok) break;
  }
  return ok;
}

/**
 * A verifier no password matches, checked for unknown user names so that they cost as much as a
 * wrong password and the answer time does not tell which names exist.
 */
export function decoyVerifier(iterations = 4096): ScramVerifier {
  return { iterations, salt: randomBytes(16), storedKey: randomBytes(32), serverKey: randomBytes(32) };
}

/**
 * The iteration count for the decoy: the one most users have, so that an unknown name costs what
 * a typical real name costs (the first user's count made unknown names stand out whenever that user
 * differed from the rest). A tie goes to the larger count: better slightly slow than a fast tell.
 */
export function decoyIterations(counts: Iterable<number>, fallback = 4096): number {
  const seen = new Map<number, number>();
  for (const c of counts) seen.set(c, (seen.get(c) ?? 0) + 1);
  let best = fallback;
  let bestN = 0;
  for (const [c, n] of seen) {
    if (n > bestN || (n === bestN && c > best)) {
      best = c;
      bestN = n;
    }
  }
  return best;
}
