/**
 * The Ed25519 key that signs checkpoints. The private key file is PKCS#8 PEM (the form
 * `openssl genpkey -algorithm ed25519` writes); the public key, SPKI PEM. A key id is the
 * first 16 hex digits of the SHA-256 of the public key's DER form.
 */
import {
  createHash,
  createPrivateKey,
  createPublicKey,
  generateKeyPairSync,
  type KeyObject,
  sign,
  verify,
} from 'node:crypto';
import { IntegrityError } from './errors.js';
import { createSecretFile, readKeyFile } from './key-files.js';

export interface CheckpointSigner {
  readonly keyId: string;
  /** SPKI DER of the public key, recorded in the store beside the checkpoints. */
  readonly publicKeyDer: Buffer;
  sign(message: Buffer): Buffer;
}

export interface SigningKeyPair {
  readonly privatePem: string;
  readonly publicPem: string;
}

export function generateSigningKey(): SigningKeyPair {
  const { privateKey, publicKey } = generateKeyPairSync('ed25519');
  return {
    privatePem: privateKey.export({ type: 'pkcs8', format: 'pem' }).toString(),
    publicPem: publicKey.export({ type: 'spki', format: 'pem' }).toString(),
  };
}

/**
 * A new signing key written to `privateFile` (mode 0600) and its public key to `publicFile` (0644),
 * never over existing files; returns the key id.
 */
export function createSigningKeyFiles(privateFile: string, publicFile: string): string {
  const pair = generateSigningKey();
  createSecretFile(privateFile, pair.privatePem);
  createSecretFile(publicFile, pair.publicPem, 0o644);
  return signerFromPem(pair.privatePem).keyId;
}

export function keyIdOf(publicKeyDer: Buffer): string {
  return createHash('sha256').update(publicKeyDer).digest('hex').slice(0, 16);
}

export function signerFromPem(pem: string | Buffer, source = 'signing key'): CheckpointSigner {
  let key: KeyObject;
  try {
    key = createPrivateKey(pem);
  } catch (err) {
    throw invalid(source, 'it is not a PEM private key', err);
  }
  if (key.asymmetricKeyType !== 'ed25519') throw invalid(source, 'it is not an Ed25519 key');
  const publicKeyDer = createPublicKey(key).export({ type: 'spki', format: 'der' });
  return {
    keyId: keyIdOf(publicKeyDer),
    publicKeyDer,
    sign: (message) => sign(null, message, key),
  };
}

export function loadSigner(path: string): CheckpointSigner {
  return signerFromPem(readKeyFile(path, 'signing key file'), path);
}

/** A trusted public key: from a public key file, or derived from the private key file. */
export interface TrustedKey {
  readonly keyId: string;
  readonly key: KeyObject;
}

export function trustedKeyFromPem(pem: string | Buffer, source = 'public key'): TrustedKey {
  let key: KeyObject;
  try {
    const priv = /PRIVATE KEY/.test(pem.toString());
    key = priv ? createPublicKey(createPrivateKey(pem)) : createPublicKey(pem);
  } catch (err) {
    throw invalid(source, 'it is not a PEM key', err);
  }
  if (key.asymmetricKeyType !== 'ed25519') throw invalid(source, 'it is not an Ed25519 key');
  return { keyId: keyIdOf(key.export({ type: 'spki', format: 'der' })), key };
}

export function loadTrustedKey(path: string): TrustedKey {
  return trustedKeyFromPem(readKeyFile(path, 'signing key file'), path);
}

export function trustedKeyFromDer(der: Buffer): TrustedKey {
  const key = createPublicKey({ key: der, format: 'der', type: 'spki' });
  return { keyId: keyIdOf(der), key };
}

export function verifySignature(key: KeyObject, message: Buffer, signature: Buffer): boolean {
  try {
    return verify(null, message, key, signature);
  } catch {
    return false;
  }
}

function invalid(source: string, why: string, cause?: unknown): IntegrityError {
  return new IntegrityError(
    'DBTAPE_KEY_FILE_INVALID',
    `dbtape: ${source} is not a usable checkpoint signing key: ${why} (make one with dbtape keys generate)`,
    { cause },
  );
}
