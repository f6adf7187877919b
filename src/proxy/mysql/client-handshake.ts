import { randomBytes } from 'node:crypto';
import type { Socket } from 'node:net';
import type { SecureContext } from 'node:tls';
import type { User } from '../../model/identity.js';
import type { Logger } from '../../model/logger.js';
import type { LoginFailure } from '../../model/session.js';
import {
  CLIENT_SSL,
  decodeHandshakeResponse,
  decodeSslRequest,
  ER_HANDSHAKE_ERROR,
  encodeInitialHandshake,
  isSslRequest,
  PLUGIN_NATIVE_PASSWORD,
  SERVER_STATUS_AUTOCOMMIT,
} from '../../protocol/mysql/index.js';
import { hideUnknownName } from '../failed-login.js';
import { SocketClosedError } from '../socket-reader.js';
import { acceptTls } from '../tls.js';
import { negotiatedWithClient, OFFERED_CAPABILITIES } from './capabilities.js';
import { HandshakeChannel } from './channel.js';
import { authenticateClient } from './client-auth.js';
import { accessDenied, ER_SECURE_TRANSPORT_REQUIRED, MysqlProxyError } from './errors.js';
import { PacketTooLargeError } from './packet-io.js';

/**
 * The client side of a MySQL connection up to a verified identity (MySQL "Connection Phase"):
 * greeting (HandshakeV10), optional SSLRequest and TLS, HandshakeResponse41, authentication.
 * The final OK is not sent here: it waits until the upstream is logged in.
 */

export interface ClientHandshakeContext {
  readonly connectionId: number;
  readonly serverVersion: string;
  readonly charset: number;
  readonly secureContext: SecureContext | null;
  readonly requireTls: boolean;
  readonly users: ReadonlyMap<string, User>;
  readonly mockSecret: Buffer;
  readonly log: Logger;
}

export type ClientHandshake =
  | {
      readonly kind: 'authenticated';
      /** Paused; the pipeline resumes it. */
      readonly socket: Socket;
      readonly leftover: Buffer;
      readonly user: User;
      /** The database the client asked for: the target's name. */
      readonly database: string | null;
      /** Capabilities in effect between the client and dbtape. */
      readonly capabilities: number;
      readonly charset: number;
      readonly maxPacketSize: number;
      readonly attributes: ReadonlyMap<string, string> | null;
      readonly tlsVersion: string | null;
      /** Answer the login with `reply(seq)`: OK once the upstream is ready, or an ERR. */
      readonly reply: (build: (seq: number) => Buffer) => void;
    }
  | {
      readonly kind: 'rejected';
      /** A login refused once the client had named its user: for the audit trail (failed-login.ts). */
      readonly login?: RefusedLogin;
    };

/** Who was refused, and what they were told. */
export interface RefusedLogin {
  readonly user: string;
  /** `user` is a configured user (else the name is kept out of logs and the recording). */
  readonly userKnown: boolean;
  readonly database: string | null;
  readonly application: string | null;
  readonly tlsVersion: string | null;
  readonly failure: LoginFailure;
  readonly error: MysqlProxyError;
}

/** Largest packet accepted before authentication (handshake responses with attributes are < 2 KiB). */
const MAX_HANDSHAKE_PACKET = 64 * 1024;
const SCRAMBLE_LENGTH = 20;

export async function clientHandshake(raw: Socket, ctx: ClientHandshakeContext): Promise<ClientHandshake> {
  const ch = new HandshakeChannel(raw, MAX_HANDSHAKE_PACKET);
  const scramble = makeScramble();
  const offered = (OFFERED_CAPABILITIES | (ctx.secureContext ? CLIENT_SSL : 0)) >>> 0;
  const remote = raw.remoteAddress ?? '';
  // Known once the client has named its user: a refusal from then on is recorded (failed-login.ts).
  let login: Omit<RefusedLogin, 'failure' | 'error'> | null = null;
  let failure: LoginFailure = 'client';
  try {
    ch.write((seq) =>
      encodeInitialHandshake(
        {
          serverVersion: ctx.serverVersion,
          connectionId: ctx.connectionId,
          scramble,
          capabilities: offered,
          mariadbCapabilities: 0,
          charset: ctx.charset,
          statusFlags: SERVER_STATUS_AUTOCOMMIT,
          authPluginName: PLUGIN_NATIVE_PASSWORD,
        },
        seq,
      ),
    );
    let payload = await ch.read();
    let tlsVersion: string | null = null;
    if (isSslRequest(payload)) {
      if (!ctx.secureContext)
        throw badHandshake('TLS was requested but dbtape has no certificate (tls.cert_file)');
      if (!decodeSslRequest(payload).ok) throw badHandshake('malformed SSLRequest');
      // MySQL clients start TLS right after the SSLRequest, without an answer, so what follows
      // it may already be here: it goes to the TLS layer as TLS records, never read as plaintext.
      const early = ch.detach();
      const secure = await acceptTls(ch.socket, ctx.secureContext, early);
      ch.switchTo(secure);
      tlsVersion = secure.getProtocol() ?? 'TLS';
      payload = await ch.read();
    }
    const decoded = decodeHandshakeResponse(payload);
    if (!decoded.ok) throw badHandshake(decoded.error.message.replace(/^dbtape: /, ''));
    const resp = decoded.value;
    login = {
      user: resp.username,
      userKnown: ctx.users.has(resp.username),
      database: resp.database || null,
      application: resp.connectAttributes?.get('program_name') ?? null,
      tlsVersion,
    };
    if (ctx.requireTls && tlsVersion === null) {
      throw new MysqlProxyError(
        ER_SECURE_TRANSPORT_REQUIRED,
        'dbtape: this proxy requires TLS: connect with --ssl (mysql/mariadb) or ssl: {} (drivers)',
      );
    }
    const capabilities = negotiatedWithClient(resp.capabilities, offered);
    const user = ctx.users.get(resp.username);
    const auth = await authenticateClient({
      channel: ch,
      capabilities,
      username: resp.username,
      user,
      plugin: resp.authPluginName,
      response: resp.authResponse,
      scramble,
      tls: tlsVersion !== null,
      mockSecret: ctx.mockSecret,
    });
    if (!auth.ok || !user) {
      failure = 'credentials';
      throw accessDenied(resp.username, remote, auth.usedPassword);
    }
    // Handed over paused: what the client sends while the upstream connects waits in the socket.
    ch.socket.pause();
    const socket = ch.socket;
    return {
      kind: 'authenticated',
      socket,
      leftover: ch.detach(),
      user,
      database: resp.database || null,
      capabilities,
      charset: resp.charset,
      maxPacketSize: resp.maxPacketSize,
      attributes: resp.connectAttributes,
      tlsVersion,
      reply: (build) => ch.write(build),
    };
  } catch (err) {
    ch.detach();
    const socket = ch.socket;
    if (err instanceof MysqlProxyError) {
      const unknown = login && !login.userKnown ? login.user : null;
      const reason = unknown === null ? err.message : hideUnknownName(err.message, unknown);
      ctx.log.info(
        { errno: err.error.errno, reason, ...(unknown === null ? {} : { user_known: false }) },
        'client rejected during login',
      );
      if (!socket.destroyed) socket.end(err.packet(ch.seq));
      if (login) return { kind: 'rejected', login: { ...login, failure, error: err } };
    } else if (err instanceof PacketTooLargeError || err instanceof RangeError) {
      ctx.log.info({ reason: err.message }, 'client rejected during login');
      if (!socket.destroyed) socket.end(badHandshake(err.message).packet(ch.seq));
    } else {
      const why = err instanceof SocketClosedError ? 'client left during login' : 'client login failed';
      ctx.log.debug({ err: (err as Error).message }, why);
      socket.destroy();
    }
    return { kind: 'rejected' };
  }
}

function badHandshake(detail: string): MysqlProxyError {
  return new MysqlProxyError(
    ER_HANDSHAKE_ERROR,
    `dbtape: bad handshake: ${detail}`,
    'DBTAPE_MYSQL_HANDSHAKE',
  );
}

/** 20 bytes of 7-bit non-NUL, non-'$' characters, as MySQL's generate_user_salt makes them. */
function makeScramble(): Buffer {
  const s = randomBytes(SCRAMBLE_LENGTH);
  for (let i = 0; i < s.length; i++) {
    s[i] &= 0x7f;
    if (s[i] === 0 || s[i] === 0x24) s[i]++;
  }
  return s;
}
