/**
 * SCRAM channel binding of type `tls-server-end-point` (RFC 5929 section 4.1), the only type
 * PostgreSQL supports: the hash of the certificate the TLS server presented, so that a SCRAM
 * exchange relayed through a man in the middle (who must present a certificate of its own) fails.
 *
 * The hash is the one the certificate's signature algorithm uses, SHA-256 in place of MD5 or
 * SHA-1, as RFC 5929 and PostgreSQL's be_tls_get_certificate_hash say. A certificate signed with
 * no single hash (Ed25519, Ed448, RSASSA-PSS) has no binding: PostgreSQL fails the exchange; dbtape
 * neither offers nor uses channel binding with one, which clients report clearly.
 */
import { createHash } from 'node:crypto';
import { readTlv } from '../../wire/der.js';

export const CHANNEL_BINDING_TYPE = 'tls-server-end-point';

const OID = 0x06;
const SEQUENCE = 0x30;

/** signatureAlgorithm OIDs (their DER content, hex) and the hash the binding uses for each. */
const HASH_BY_SIGNATURE: ReadonlyMap<string, string> = new Map([
  // RSA PKCS #1 v1.5 (RFC 8017 appendix C): md5, sha1, sha256, sha384, sha512, sha224
  ['2a864886f70d010104', 'sha256'],
  ['2a864886f70d010105', 'sha256'],
  ['2a864886f70d01010b', 'sha256'],
  ['2a864886f70d01010c', 'sha384'],
  ['2a864886f70d01010d', 'sha512'],
  ['2a864886f70d01010e', 'sha224'],
  // ECDSA (RFC 5758 section 3.2): sha1, sha224, sha256, sha384, sha512
  ['2a8648ce3d0401', 'sha256'],
  ['2a8648ce3d040301', 'sha224'],
  ['2a8648ce3d040302', 'sha256'],
  ['2a8648ce3d040303', 'sha384'],
  ['2a8648ce3d040304', 'sha512'],
  // DSA (RFC 3279, RFC 5758): sha1, sha224, sha256
  ['2a8648ce380403', 'sha256'],
  ['608648016503040301', 'sha224'],
  ['608648016503040302', 'sha256'],
]);

/**
 * The channel-binding data for the DER certificate `cert`, or null when its signature algorithm
 * names no hash to use (or it is not a certificate at all).
 */
export function tlsServerEndPoint(cert: Uint8Array): Buffer | null {
  const hash = bindingHash(cert);
  return hash === null ? null : createHash(hash).update(cert).digest();
}

/** Certificate ::= SEQUENCE { tbsCertificate, signatureAlgorithm AlgorithmIdentifier, signature } */
function bindingHash(cert: Uint8Array): string | null {
  try {
    const outer = readTlv(cert, 0);
    if (outer.tag !== SEQUENCE) return null;
    const tbs = readTlv(cert, outer.contentStart, outer.end);
    const algorithm = readTlv(cert, tbs.end, outer.end);
    if (algorithm.tag !== SEQUENCE) return null;
    const oid = readTlv(cert, algorithm.contentStart, algorithm.end);
    if (oid.tag !== OID) return null;
    const key = Buffer.from(cert.subarray(oid.contentStart, oid.end)).toString('hex');
    return HASH_BY_SIGNATURE.get(key) ?? null;
  } catch (err) {
    if (err instanceof RangeError) return null;
    throw err;
  }
}
