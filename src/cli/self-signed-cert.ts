/**
 * Self-signed TLS certificates for dbtape's listeners (`dbtape keys tls`, the demo), made with
 * node:crypto alone so that neither openssl nor a certificate library is needed. Node can make keys
 * and signatures but not X.509 certificates, so the certificate body (RFC 5280, section 4.1) is
 * written here in DER (ITU-T X.690): an ECDSA P-256 key, signed with SHA-256, with the names clients
 * connect to as subjectAltName entries, so that they can verify it (sslmode=verify-full with the
 * certificate as the root). It is checked with node's own X.509 parser before it is used.
 */
import { createHash, generateKeyPairSync, randomBytes, sign, X509Certificate } from 'node:crypto';
import { isIP } from 'node:net';
import { readTlv } from '../wire/der.js';

const DAY_MS = 24 * 60 * 60 * 1000;

/** Names every certificate carries: clients on this machine connect by them. */
export const LOOPBACK_NAMES: readonly string[] = ['localhost', '127.0.0.1', '::1'];

export interface SelfSignedOptions {
  readonly commonName: string;
  /** subjectAltName entries: host names and IPv4/IPv6 addresses. */
  readonly names: readonly string[];
  readonly validDays: number;
  readonly now?: Date;
}

export function makeSelfSignedCert(o: SelfSignedOptions): { certPem: string; keyPem: string } {
  const now = o.now ?? new Date();
  const { publicKey, privateKey } = generateKeyPairSync('ec', { namedCurve: 'P-256' });
  const spki = publicKey.export({ type: 'spki', format: 'der' });
  const name = seq(set(seq(oid('2.5.4.3'), utf8(o.commonName))));
  const tbs = seq(
    explicit(0, integer(Buffer.from([2]))), // v3
    integer(serialNumber()),
    ECDSA_SHA256,
    name,
    seq(time(new Date(now.getTime() - 60 * 60 * 1000)), time(new Date(now.getTime() + o.validDays * DAY_MS))),
    name,
    spki,
    explicit(3, seq(...extensions(spki, o.names))),
  );
  const signature = sign('sha256', tbs, privateKey); // DER ECDSA-Sig-Value, as X.509 wants it
  const der = seq(tbs, ECDSA_SHA256, bitString(signature));
  const cert = new X509Certificate(der);
  const namesOk = o.names.every((n) => (isIP(n) ? cert.checkIP(n) : cert.checkHost(n)) !== undefined);
  if (!cert.verify(publicKey) || !cert.checkPrivateKey(privateKey) || !namesOk) {
    throw new Error('dbtape: the generated certificate failed its self-check (DBTAPE_SELF_SIGNED_CERT)');
  }
  return {
    certPem: cert.toString(),
    keyPem: privateKey.export({ type: 'pkcs8', format: 'pem' }).toString(),
  };
}

/** A subjectAltName entry: a host name or an IP address. Throws on anything else. */
export function checkCertName(name: string): string {
  if (isIP(name)) return name;
  // RFC 1123 labels, with a leading wildcard label allowed (clients match *.example.com).
  if (
    /^(\*\.)?([a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?)(\.[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?)*$/i.test(name) &&
    name.length <= 253
  ) {
    return name;
  }
  throw new Error(`"${name}" is neither a host name nor an IP address`);
}

function extensions(spki: Buffer, names: readonly string[]): Buffer[] {
  const keyBits = spkiKeyBits(spki);
  const keyId = createHash('sha1').update(keyBits).digest();
  return [
    // basicConstraints, critical, cA TRUE: the certificate is its own root of trust.
    extension('2.5.29.19', true, seq(tlv(0x01, Buffer.from([0xff])))),
    // keyUsage, critical: digitalSignature (bit 0) and keyCertSign (bit 5) → 0b10000100, 2 unused bits.
    extension('2.5.29.15', true, tlv(0x03, Buffer.from([0x02, 0x84]))),
    // extKeyUsage: serverAuth.
    extension('2.5.29.37', false, seq(oid('1.3.6.1.5.5.7.3.1'))),
    // subjectAltName: dNSName [2] and iPAddress [7].
    extension('2.5.29.17', false, seq(...names.map(altName))),
    // subjectKeyIdentifier (RFC 5280 4.2.1.2, method 1).
    extension('2.5.29.14', false, tlv(0x04, keyId)),
  ];
}

function altName(name: string): Buffer {
  const family = isIP(name);
  if (family === 4) return tlv(0x87, Buffer.from(name.split('.').map(Number)));
  if (family === 6) return tlv(0x87, ipv6Bytes(name));
  return tlv(0x82, Buffer.from(name, 'ascii'));
}

/** The 16 bytes of an IPv6 address (with `::` and a trailing dotted IPv4 part allowed). */
function ipv6Bytes(address: string): Buffer {
  let text = address;
  const v4 = /(\d+)\.(\d+)\.(\d+)\.(\d+)$/.exec(text);
  if (v4) {
    const [a, b, c, d] = v4.slice(1).map(Number) as [number, number, number, number];
    text = `${text.slice(0, v4.index)}${((a << 8) | b).toString(16)}:${((c << 8) | d).toString(16)}`;
  }
  const [head, tail] = text.includes('::') ? text.split('::') : [text, undefined];
  const left = head ? head.split(':') : [];
  const right = tail ? tail.split(':') : [];
  const groups =
    tail === undefined ? left : [...left, ...Array(8 - left.length - right.length).fill('0'), ...right];
  const out = Buffer.alloc(16);
  for (const [i, g] of groups.entries()) out.writeUInt16BE(Number.parseInt(g, 16), i * 2);
  return out;
}

/** The subjectPublicKey BIT STRING's content (without the unused-bits byte) inside a DER SPKI. */
function spkiKeyBits(spki: Buffer): Buffer {
  const outer = readTlv(spki, 0);
  const algorithm = readTlv(spki, outer.contentStart);
  const bits = readTlv(spki, algorithm.end);
  return spki.subarray(bits.contentStart + 1, bits.end);
}

function serialNumber(): Buffer {
  const serial = randomBytes(16);
  serial[0] &= 0x7f; // positive
  serial[0] |= 0x01; // and without a leading zero byte
  return serial;
}

// DER building blocks (X.690 section 10): tag, definite length, content.

function tlv(tag: number, content: Buffer): Buffer {
  const n = content.length;
  let header: Buffer;
  if (n < 0x80) header = Buffer.from([tag, n]);
  else if (n < 0x100) header = Buffer.from([tag, 0x81, n]);
  else if (n < 0x10000) header = Buffer.from([tag, 0x82, n >> 8, n & 0xff]);
  else throw new RangeError('DER value too long for this encoder');
  return Buffer.concat([header, content]);
}

function seq(...items: Buffer[]): Buffer {
  return tlv(0x30, Buffer.concat(items));
}

function set(...items: Buffer[]): Buffer {
  return tlv(0x31, Buffer.concat(items));
}

function explicit(tagNumber: number, inner: Buffer): Buffer {
  return tlv(0xa0 | tagNumber, inner);
}

function integer(bytes: Buffer): Buffer {
  return tlv(0x02, bytes[0] & 0x80 ? Buffer.concat([Buffer.from([0]), bytes]) : bytes);
}

function bitString(bytes: Buffer): Buffer {
  return tlv(0x03, Buffer.concat([Buffer.from([0]), bytes]));
}

function utf8(text: string): Buffer {
  return tlv(0x0c, Buffer.from(text, 'utf8'));
}

function oid(dotted: string): Buffer {
  const [a, b, ...rest] = dotted.split('.').map(Number);
  const out = [40 * a + b];
  for (const arc of rest) {
    const septets = [arc & 0x7f];
    for (let v = arc >>> 7; v > 0; v >>>= 7) septets.unshift((v & 0x7f) | 0x80);
    out.push(...septets);
  }
  return tlv(0x06, Buffer.from(out));
}

/** UTCTime for years before 2050, GeneralizedTime after (RFC 5280 4.1.2.5). */
function time(d: Date): Buffer {
  const iso = d.toISOString(); // YYYY-MM-DDTHH:MM:SS.sssZ
  const digits = iso.slice(0, 19).replace(/[-T:]/g, '');
  return d.getUTCFullYear() < 2050
    ? tlv(0x17, Buffer.from(`${digits.slice(2)}Z`))
    : tlv(0x18, Buffer.from(`${digits}Z`));
}

function extension(id: string, critical: boolean, value: Buffer): Buffer {
  const parts = [oid(id)];
  if (critical) parts.push(tlv(0x01, Buffer.from([0xff])));
  parts.push(tlv(0x04, value));
  return seq(...parts);
}

const ECDSA_SHA256 = seq(oid('1.2.840.10045.4.3.2'));
