/** The demo's TLS certificate: self-signed for the loopback names, a month long, made at each start. */
import { chmodSync, mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { LOOPBACK_NAMES, makeSelfSignedCert } from '../self-signed-cert.js';

export interface DemoCert {
  readonly certFile: string;
  readonly keyFile: string;
  readonly certPem: string;
}

const VALID_DAYS = 30;

/** Writes a fresh certificate and key to `dir` (demo.crt, demo.key with mode 0600). */
export function writeDemoCert(dir: string, now = new Date()): DemoCert {
  mkdirSync(dir, { recursive: true });
  const { certPem, keyPem } = makeSelfSignedCert({
    commonName: 'dbtape demo',
    names: LOOPBACK_NAMES,
    validDays: VALID_DAYS,
    now,
  });
  const certFile = join(dir, 'demo.crt');
  const keyFile = join(dir, 'demo.key');
  writeFileSync(certFile, certPem);
  writeFileSync(keyFile, keyPem, { mode: 0o600 });
  chmodSync(keyFile, 0o600); // writeFileSync's mode applies only when it creates the file
  return { certFile, keyFile, certPem };
}
