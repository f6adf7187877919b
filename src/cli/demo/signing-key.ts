/**
 * The demo's checkpoint signing key, so that its recordings carry the whole of dbtape's tamper
 * evidence (signed checkpoints, which also reveal deleted sessions) and `dbtape verify` can be tried
 * on them. Made once per demo folder and kept, like the store: checkpoints written by earlier runs
 * must verify against the same public key.
 */
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { createSecretFile } from '../../integrity/key-files.js';
import { createSigningKeyFiles, loadTrustedKey } from '../../integrity/signing-key.js';

export interface DemoSigningKey {
  /** The private key (PEM, mode 0600): store.signing_key_file. */
  readonly keyFile: string;
  /** Its public key (PEM): what `dbtape verify --public-key` trusts. */
  readonly publicFile: string;
}

export function demoSigningKey(dir: string): DemoSigningKey {
  const keyFile = join(dir, 'signing.key');
  const publicFile = join(dir, 'signing.pub');
  if (!existsSync(keyFile)) createSigningKeyFiles(keyFile, publicFile);
  else if (!existsSync(publicFile)) {
    // Only the public half was deleted: derive it again rather than orphan the checkpoints signed so far.
    const publicPem = loadTrustedKey(keyFile).key.export({ type: 'spki', format: 'pem' }).toString();
    createSecretFile(publicFile, publicPem, 0o644);
  }
  return { keyFile, publicFile };
}
