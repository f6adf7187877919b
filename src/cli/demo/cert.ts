/**
 * A self-signed TLS certificate for the demo listener, made with node:crypto alone so the demo needs
 * neither openssl nor a certificate library. Node can make keys and signatures but not X.509
 * certificates, so the certificate body (RFC 5280, section 4.1) is written here in DER (ITU-T X.690):
 * an ECDSA P-256 key, signed with SHA-256, for CN=dbtape demo with subjectAltName localhost, 127.0.0.1
 * and ::1, so clients can verify it (sslmode=verify-full with it as the root certificate).
 * It is checked with node's own X.509 parser before it is used.
 */
import { createHash, generateKeyPairSync, randomBytes, sign, X509Certificate } from 'node:crypto';
import { chmodSync, mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';

export interface DemoCert {
  readonly certFile: string;
  readonly keyFile: string;
  readonly certPem: string;
}

const DAY_MS = 24 * 60 * 60 * 1000;
const VALID_DAYS = 30;

/** Writes a fresh certificate and key to `dir` (demo.crt, demo.key with mode 0600). */
export function writeDemoCert(dir: string, now = new Date()): DemoCert {
  mkdirSync(dir, { recursive: true });
  const { certPem, keyPem } = makeSelfSignedCert('dbtape demo', now);
  const certFile = join(dir, 'demo.crt');
  const keyFile = join(dir, 'demo.key');
  writeFileSync(certFile, certPem);
  writeFileSync(keyFile, keyPem, { mode: 0o600 });
  chmodSync(keyFile, 0o600); // writeFileSync's mode applies only when it creates the file
  return { certFile, keyFile, certPem };
}

export function makeSelfSignedCert(
  commonName: string,
  now = new Date(),
): { certPem: string; keyPem: string } {
  const { publicKey, privateKey } = generateKeyPairSync('ec', { namedCurve: 'P-256' });
  const spki = publicKey.export({ type: 'spki', format: 'der' });
  const name = seq(set(seq(oid('2.5.4.3'), utf8(commonName))));
  const tbs = seq(
    explicit(0, integer(Buffer.from([2]))), // v3
    integer(serialNumber()),
    ECDSA_SHA256,
    name,
    seq(time(new Date(now.getTime() - 60 * 60 * 1000)), time(new Date(now.getTime() + VALID_DAYS * DAY_MS))),
    name,
    spki,
    explicit(3, seq(...extensions(spki))),
  );
  const signature = sign('sha256', tbs, privateKey); // DER ECDSA-Sig-Value, as X.509 wants it
  const der = seq(tbs, ECDSA_SHA256, bitString(signature));
  const cert = new X509Certificate(der);
  if (!cert.verify(publicKey) || !cert.checkPrivateKey(privateKey) || !cert.checkIP('127.0.0.1')) {
    throw new Error('dbtape: the generated demo certificate failed its self-check (DBTAPE_DEMO_CERT)');
  }
  return {
    certPem: cert.toString(),
    keyPem: privateKey.export({ type: 'pkcs8', format: 'pem' }).toString(),
  };
}

function extensions(spki: Buffer): Buffer[] {
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
    extension(
      '2.5.29.17',
      false,
      seq(
        tlv(0x82, Buffer.from('localhost')),
        tlv(0x87, Buffer.from([127, 0, 0, 1])),
        tlv(0x87, Buffer.concat([Buffer.alloc(15), Buffer.from([1])])),
      ),
    ),
    // subjectKeyIdentifier (RFC 5280 4.2.1.2, method 1).
    extension('2.5.29.14', false, tlv(0x04, keyId)),
  ];
}

/** The subjectPublicKey BIT STRING's content (without the unused-bits byte) inside a DER SPKI. */
function spkiKeyBits(spki: Buffer): Buffer {
  const outer = readTlv(spki, 0);
  const algorithm = readTlv(spki, outer.contentStart);
  const bits = readTlv(spki, algorithm.end);
  return spki.subarray(bits.contentStart + 1, bits.end);
}

function readTlv(buf: Buffer, pos: number): { contentStart: number; end: number } {
  let len = buf[pos + 1];
  let start = pos + 2;
  if (len & 0x80) {
    const n = len & 0x7f;
    len = buf.readUIntBE(pos + 2, n);
    start += n;
  }
  return { contentStart: start, end: start + len };
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
