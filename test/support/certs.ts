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

/**
 * A self-signed certificate for CN=localhost with SAN IP:127.0.0.1 and DNS:localhost, valid for 30 days,
 * written to `dir` as server.crt / server.key (key mode 0600, as PostgreSQL demands). Usable with
 * verify-full against 127.0.0.1 or localhost when the client trusts `caFile`.
 */
export function makeSelfSignedCert(dir: string): CertFiles {
  const openssl = requireBinary('openssl', 'openssl');
  mkdirSync(dir, { recursive: true });
  const certFile = path.join(dir, 'server.crt');
  const keyFile = path.join(dir, 'server.key');
  execFileSync(
    openssl,
    [
      'req',
      '-x509',
      '-newkey',
      'rsa:2048',
      '-nodes',
      '-sha256',
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
