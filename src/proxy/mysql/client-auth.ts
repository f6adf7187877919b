import { createHash, createHmac } from 'node:crypto';
import type { User } from '../../model/identity.js';
import {
  CACHING_SHA2_FAST_AUTH_SUCCESS,
  CACHING_SHA2_PERFORM_FULL_AUTH,
  CLIENT_PLUGIN_AUTH,
  encodeAuthMoreData,
  encodeAuthSwitchRequest,
  hasCap,
  PLUGIN_CACHING_SHA2,
  PLUGIN_NATIVE_PASSWORD,
  passwordFromCleartextPayload,
  verifyCachingSha2Cleartext,
  verifyCachingSha2Scramble,
  verifyNativePassword,
} from '../../protocol/mysql/index.js';
import type { HandshakeChannel } from './channel.js';

/**
 * Verifies a client's password against the dbtape identity's stored hashes, never the
 * password itself (MySQL "Authentication Methods"):
 *   mysql_native_password against SHA1(SHA1(pw)),
 *   caching_sha2_password's fast path against SHA256(SHA256(pw)); when the scramble does not
 *   match and the connection is TLS, the full path: the client sends the password, which is
 *   hashed and compared.
 * A client that starts with another plugin is switched (AuthSwitchRequest) to one the user
 * has a verifier for. Unknown users go through the same exchange against hashes derived from
 * a per-process secret, so they cannot be told apart from a wrong password.
 */

export interface AuthInput {
  readonly channel: HandshakeChannel;
  /** Negotiated capabilities (CLIENT_PLUGIN_AUTH decides whether a switch is possible). */
  readonly capabilities: number;
  readonly username: string;
  readonly user: User | undefined;
  /** The client's plugin and first response from the HandshakeResponse. */
  readonly plugin: string | null;
  readonly response: Buffer;
  readonly scramble: Buffer;
  readonly tls: boolean;
  readonly mockSecret: Buffer;
}

export interface AuthResult {
  readonly ok: boolean;
  /** Whether the client sent a password at all, for "(using password: YES|NO)". */
  readonly usedPassword: boolean;
}

interface Stored {
  readonly native: Buffer | null;
  readonly sha2: Buffer | null;
}

export async function authenticateClient(a: AuthInput): Promise<AuthResult> {
  const stored = storedHashes(a);
  let plugin = hasCap(a.capabilities, CLIENT_PLUGIN_AUTH)
    ? (a.plugin ?? PLUGIN_NATIVE_PASSWORD)
    : PLUGIN_NATIVE_PASSWORD;
  let data = a.response;
  // An empty first answer may mean the client did not scramble for this greeting (libmariadb
  // with --default-auth does so): ask again, naming the plugin, as MySQL servers do.
  if (!canVerify(plugin, stored) || (data.length === 0 && hasCap(a.capabilities, CLIENT_PLUGIN_AUTH))) {
    const want = canVerify(plugin, stored)
      ? plugin
      : stored.native
        ? PLUGIN_NATIVE_PASSWORD
        : stored.sha2
          ? PLUGIN_CACHING_SHA2
          : null;
    if (want === null || !hasCap(a.capabilities, CLIENT_PLUGIN_AUTH))
      return { ok: false, usedPassword: data.length > 0 };
    const nonce = Buffer.concat([a.scramble, Buffer.from([0])]);
    a.channel.write((seq) => encodeAuthSwitchRequest(want, nonce, seq));
    data = await a.channel.read();
    plugin = want;
  }
  const usedPassword = data.length > 0;
  if (plugin === PLUGIN_NATIVE_PASSWORD) {
    return { ok: verifyNativePassword(data, a.scramble, stored.native!), usedPassword };
  }
  return { ok: await cachingSha2(a, data, stored.sha2!), usedPassword };
}

async function cachingSha2(a: AuthInput, data: Buffer, stored: Buffer): Promise<boolean> {
  if (verifyCachingSha2Scramble(data, a.scramble, stored)) {
    a.channel.write((seq) => encodeAuthMoreData(Buffer.from([CACHING_SHA2_FAST_AUTH_SUCCESS]), seq));
    return true;
  }
  // The full path sends the password itself: only ever over TLS (dbtape has no RSA key pair).
  if (!a.tls || data.length === 0) return false;
  a.channel.write((seq) => encodeAuthMoreData(Buffer.from([CACHING_SHA2_PERFORM_FULL_AUTH]), seq));
  const clear = await a.channel.read();
  return verifyCachingSha2Cleartext(passwordFromCleartextPayload(clear), stored);
}

function canVerify(plugin: string, stored: Stored): boolean {
  return (
    (plugin === PLUGIN_NATIVE_PASSWORD && stored.native !== null) ||
    (plugin === PLUGIN_CACHING_SHA2 && stored.sha2 !== null)
  );
}

function storedHashes(a: AuthInput): Stored {
  if (a.user) return { native: a.user.verifiers.mysqlNative, sha2: a.user.verifiers.cachingSha2 };
  // Stable per user name, so repeated attempts look like a real account's.
  const key = createHmac('sha256', a.mockSecret).update(a.username).digest();
  return {
    native: createHash('sha1').update(key).digest(),
    sha2: createHash('sha256').update(key).digest(),
  };
}
