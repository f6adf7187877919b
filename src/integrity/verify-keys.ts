/** With the keyring at hand, verify also checks that each session's data key still unwraps. */
import { dataKeyAad, dataKeyFingerprint } from './data-keys.js';
import type { Keyring } from './keyring.js';
import type { StoredSession } from './source.js';

/** A problem with the session's wrapped data key, or null when it unwraps to the key its chain names. */
export function checkDataKey(s: StoredSession, keyring: Keyring): string | null {
  const dk = s.dataKey!;
  if (!keyring.has(dk.version))
    return `its data key is wrapped by master key version ${dk.version}, not in the keyring`;
  let key: Buffer;
  try {
    key = keyring.unwrap(dk.version, dk.wrapped, dataKeyAad(s.meta.id), 'the data key');
  } catch {
    return 'its wrapped data key does not unwrap with the keyring: it was changed';
  }
  if (!Buffer.isBuffer(dk.fingerprint) || !dataKeyFingerprint(key).equals(dk.fingerprint)) {
    return "its data key's fingerprint does not match the key";
  }
  return null;
}
