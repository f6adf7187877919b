import type { Target } from '../../model/identity.js';
import {
  CACHING_SHA2_FAST_AUTH_SUCCESS,
  CACHING_SHA2_PERFORM_FULL_AUTH,
  CACHING_SHA2_REQUEST_PUBLIC_KEY,
  cachingSha2Scramble,
  cleartextPasswordPayload,
  decodeAuthMoreData,
  decodeAuthSwitchRequest,
  decodeErr,
  decodeOk,
  ed25519Sign,
  encodeAuthData,
  nativePasswordScramble,
  PLUGIN_CACHING_SHA2,
  PLUGIN_CLEAR_PASSWORD,
  PLUGIN_ED25519,
  PLUGIN_NATIVE_PASSWORD,
  PLUGIN_SHA256,
  rsaEncryptPassword,
  SHA256_REQUEST_PUBLIC_KEY,
  scrambleFromPluginData,
} from '../../protocol/mysql/index.js';
import type { HandshakeChannel } from './channel.js';
import { upstreamFailure } from './errors.js';

/**
 * dbtape logging in to a target with the injected credentials, with whichever plugin the
 * server asks for (MySQL "Authentication Methods"; MariaDB "Authentication plugin - ed25519"):
 * mysql_native_password, caching_sha2_password (fast path; full path over TLS or with the
 * server's RSA key), sha256_password, client_ed25519, and mysql_clear_password over TLS only.
 */

export interface LoginState {
  readonly target: Target;
  readonly tls: boolean;
  plugin: string;
  /** Nonce of the current plugin, as the server sent it (NUL included where it sends one). */
  nonce: Buffer;
}

/** The first auth response for `plugin` (in the HandshakeResponse or after an AuthSwitchRequest). */
export function firstResponse(s: LoginState): Buffer {
  const password = s.target.password ?? '';
  const scramble = scrambleFromPluginData(s.nonce);
  switch (s.plugin) {
    case PLUGIN_NATIVE_PASSWORD:
      return nativePasswordScramble(password, scramble);
    case PLUGIN_CACHING_SHA2:
      return cachingSha2Scramble(password, scramble);
    case PLUGIN_ED25519:
      // MariaDB signs the whole 32-byte nonce (no NUL is appended to it).
      return ed25519Sign(password, s.nonce.subarray(0, 32));
    case PLUGIN_CLEAR_PASSWORD:
      if (!s.tls) {
        throw upstreamFailure(
          `dbtape: target "${s.target.name}" asks for the password in cleartext (mysql_clear_password) over an unencrypted connection; refusing (set tls: require)`,
        );
      }
      return cleartextPasswordPayload(password);
    case PLUGIN_SHA256:
      return s.tls ? cleartextPasswordPayload(password) : Buffer.from([SHA256_REQUEST_PUBLIC_KEY]);
    default:
      throw upstreamFailure(
        `dbtape: target "${s.target.name}" asks for the auth plugin "${s.plugin}", which dbtape does not support`,
      );
  }
}

/** Plugins dbtape can start with in its HandshakeResponse; others are answered after a switch. */
export function initialPlugin(serverDefault: string | null): string {
  const p = serverDefault ?? PLUGIN_NATIVE_PASSWORD;
  return p === PLUGIN_CACHING_SHA2 || p === PLUGIN_NATIVE_PASSWORD ? p : PLUGIN_NATIVE_PASSWORD;
}

/**
 * Answer the server until it says OK (returns its status flags) or ERR (throws).
 * `capabilities` are the ones sent upstream (they shape the OK packet).
 */
export async function finishLogin(
  ch: HandshakeChannel,
  s: LoginState,
  capabilities: number,
): Promise<number> {
  let awaitingKey = false;
  for (;;) {
    const p = await ch.read();
    switch (p[0]) {
      case 0x00: {
        const ok = decodeOk(p, capabilities);
        return ok.ok ? ok.value.statusFlags : 0;
      }
      case 0xff: {
        const err = decodeErr(p);
        const why = err.ok ? `${err.value.errno} ${err.value.message}` : 'malformed error packet';
        throw upstreamFailure(`dbtape: target "${s.target.name}" refused dbtape's login: ${why}`);
      }
      case 0xfe: {
        const sw = decodeAuthSwitchRequest(p);
        if (!sw.ok) throw upstreamFailure(`dbtape: target "${s.target.name}": ${sw.error.message}`);
        s.plugin = sw.value.pluginName;
        s.nonce = sw.value.pluginData;
        awaitingKey = false;
        const answer = firstResponse(s);
        ch.write((seq) => encodeAuthData(answer, seq));
        awaitingKey = s.plugin === PLUGIN_SHA256 && !s.tls;
        break;
      }
      case 0x01: {
        const more = decodeAuthMoreData(p);
        if (!more.ok) throw upstreamFailure(`dbtape: target "${s.target.name}": ${more.error.message}`);
        awaitingKey = moreData(ch, s, more.value, awaitingKey);
        break;
      }
      default:
        throw upstreamFailure(
          `dbtape: target "${s.target.name}" sent an unexpected packet (0x${p[0]?.toString(16)}) during login`,
        );
    }
  }
}

/** AuthMoreData: caching_sha2 status bytes, or the server's RSA public key. Returns awaitingKey. */
function moreData(ch: HandshakeChannel, s: LoginState, data: Buffer, awaitingKey: boolean): boolean {
  const password = s.target.password ?? '';
  if (awaitingKey || (s.plugin === PLUGIN_SHA256 && data.length > 1)) {
    const key = data.toString('latin1');
    const cipher = rsaEncryptPassword(password, scrambleFromPluginData(s.nonce), key, 'oaep');
    ch.write((seq) => encodeAuthData(cipher, seq));
    return false;
  }
  if (s.plugin !== PLUGIN_CACHING_SHA2 || data.length !== 1) {
    throw upstreamFailure(`dbtape: target "${s.target.name}" sent unexpected authentication data`);
  }
  if (data[0] === CACHING_SHA2_FAST_AUTH_SUCCESS) return false;
  if (data[0] !== CACHING_SHA2_PERFORM_FULL_AUTH) {
    throw upstreamFailure(`dbtape: target "${s.target.name}" sent an unknown caching_sha2_password status`);
  }
  if (s.tls) {
    ch.write((seq) => encodeAuthData(cleartextPasswordPayload(password), seq));
    return false;
  }
  ch.write((seq) => encodeAuthData(Buffer.from([CACHING_SHA2_REQUEST_PUBLIC_KEY]), seq));
  return true;
}
