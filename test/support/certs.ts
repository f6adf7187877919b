import { execFileSync } from 'node:child_process';
import { mkdirSync } from 'node:fs';
import path from 'node:path';
import { requireBinary } from './binaries.js';

export interface CertFiles {
  certFile: string;
  keyFile: string;
  /** The certificate a client trusts to verify the server: the self-signed certificate itself. */
  caFile: string;
}

/** The key and signature hash of a test certificate (openssl req's -newkey and digest options). */
export interface CertKind {
  /** `rsa:2048` (default), `ec` with `curve`, or `ed25519` (which signs with no separate hash). */
  readonly key?: 'rsa:2048' | 'ec' | 'ed25519';
  readonly curve?: 'P-256' | 'P-384';
  /** Default sha256; ignored for ed25519. */
  readonly digest?: 'sha1' | 'sha256' | 'sha384' | 'sha512';
}

/**
 * A self-signed certificate for CN=localhost with SAN IP:127.0.0.1 and DNS:localhost, valid for 30 days,
 * written to `dir` as server.crt / server.key (key mode 0600, as PostgreSQL demands). Usable with
 * verify-full against 127.0.0.1 or localhost when the client trusts `caFile`.
 */
export function makeSelfSignedCert(dir: string, kind: CertKind = {}): CertFiles {
  const openssl = requireBinary('openssl', 'openssl');
  mkdirSync(dir, { recursive: true });
  const certFile = path.join(dir, 'server.crt');
  const keyFile = path.join(dir, 'server.key');
  const key = kind.key ?? 'rsa:2048';
  const newKey =
    key === 'ec'
      ? ['-newkey', 'ec', '-pkeyopt', `ec_paramgen_curve:${kind.curve ?? 'P-256'}`]
      : ['-newkey', key];
  const digest = key === 'ed25519' ? [] : [`-${kind.digest ?? 'sha256'}`];
  execFileSync(
    openssl,
    [
      'req',
      '-x509',
      ...newKey,
      '-nodes',
      ...digest,
      '-days',
      '30',
      '-subj',
      '/CN=localhost',
      '-addext',
      'subjectAltName=IP:127.0.0.1,DNS:localhost',
      '-keyout',
      keyFile,
      '-out',
      certFile,
    ],
    { stdio: ['ignore', 'ignore', 'pipe'] },
  );
  execFileSync('chmod', ['600', keyFile]);
  return { certFile, keyFile, caFile: certFile };
}
