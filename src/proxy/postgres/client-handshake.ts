import type { Socket } from 'node:net';
import { type SecureContext, TLSSocket } from 'node:tls';
import { dbtapeMessage } from '../../model/dbtape-message.js';
import type { User } from '../../model/identity.js';
import type { Logger } from '../../model/logger.js';
import type { LoginFailure } from '../../model/session.js';
import { tlsServerEndPoint } from '../../protocol/postgres/channel-binding.js';
import { F, MAX_STARTUP_PACKET_LENGTH } from '../../protocol/postgres/codes.js';
import { decodeSaslInitialResponse } from '../../protocol/postgres/decode.js';
import {
  authenticationSasl,
  authenticationSaslContinue,
  errorResponse,
  negotiateProtocolVersion,
} from '../../protocol/postgres/encode.js';
import {
  SCRAM_PLUS_MECHANISM,
  ScramError,
  ScramServer,
  scramMechanisms,
} from '../../protocol/postgres/scram.js';
import { SqlState } from '../../protocol/postgres/sqlstate.js';
import { checkStartupLength, decodeStartup } from '../../protocol/postgres/startup.js';
import { hideUnknownName } from '../failed-login.js';
import { readTyped, SocketReader } from '../socket-reader.js';
import { acceptTls } from '../tls.js';

/**
 * The client side of a PostgreSQL connection up to a verified identity
 * (PostgreSQL docs, "Message Flow: Start-up", "SSL Session Encryption", "SASL Authentication").
 */

export interface ClientHandshakeContext {
  readonly secureContext: SecureContext | null;
  readonly requireTls: boolean;
  readonly users: ReadonlyMap<string, User>;
  /** Secret for the fake SCRAM exchange of unknown users (same salt every time, same work). */
  readonly mockSecret: Buffer;
  readonly log: Logger;
}

export type ClientHandshake =
  | {
      readonly kind: 'authenticated';
      /** Paused; whoever takes it over resumes it. */
      readonly socket: Socket;
      readonly leftover: Buffer;
      readonly user: User;
      readonly database: string;
      readonly params: ReadonlyMap<string, string>;
      readonly tlsVersion: string | null;
      /** Send SASLFinal: call once the target is resolved, before AuthenticationOk. */
      readonly saslFinal: Buffer;
      /** The client bound its SCRAM exchange to dbtape's certificate (SCRAM-SHA-256-PLUS). */
      readonly channelBound: boolean;
    }
  | { readonly kind: 'cancel'; readonly socket: Socket; readonly pid: number; readonly secret: number }
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
  readonly database: string;
  readonly application: string | null;
  readonly tlsVersion: string | null;
  readonly failure: LoginFailure;
  readonly code: string;
  readonly message: string;
}

/** Largest SASL message we accept: real ones are well under 1 KiB. */
const MAX_SASL_MESSAGE = 8192;

export class HandshakeError extends Error {
  constructor(
    readonly sqlstate: string,
    message: string,
    /** Set where the refusal belongs in the audit trail: the client has named its user. */
    readonly login?: Omit<RefusedLogin, 'code' | 'message'>,
  ) {
    super(message);
  }
}

export async function clientHandshake(raw: Socket, ctx: ClientHandshakeContext): Promise<ClientHandshake> {
  let socket: Socket = raw;
  let reader = new SocketReader(socket, MAX_STARTUP_PACKET_LENGTH + MAX_SASL_MESSAGE);
  let tlsDone = false;
  let gssDone = false;
  try {
    for (;;) {
      await reader.need(4);
      const len = reader.peek(4).readInt32BE(0);
      const lenErr = checkStartupLength(len);
      if (lenErr) throw new HandshakeError(lenErr.code, lenErr.message);
      await reader.need(len);
      const packet = decodeStartup(reader.take(len));
      if (packet.kind === 'error') throw new HandshakeError(packet.code, packet.message);

      if (packet.kind === 'ssl' || packet.kind === 'gssenc') {
        if ((packet.kind === 'ssl' && tlsDone) || (packet.kind === 'gssenc' && gssDone)) {
          throw new HandshakeError(
            SqlState.ProtocolViolation,
            `duplicate ${packet.kind.toUpperCase()} request`,
          );
        }
        // Bytes sent before our answer would be processed outside TLS (CVE-2021-23214).
        if (reader.buffered > 0) {
          ctx.log.warn({}, 'client sent data after an encryption request before the answer; closing');
          raw.destroy();
          return { kind: 'rejected' };
        }
        if (packet.kind === 'gssenc') {
          gssDone = true;
          socket.write('N');
          continue;
        }
        tlsDone = true;
        if (!ctx.secureContext) {
          socket.write('N');
          continue;
        }
        socket.write('S');
        reader.detach();
        socket = await acceptTls(socket, ctx.secureContext, Buffer.alloc(0));
        reader = new SocketReader(socket, MAX_STARTUP_PACKET_LENGTH + MAX_SASL_MESSAGE);
        continue;
      }

      if (packet.kind === 'cancel') {
        reader.detach();
        return { kind: 'cancel', socket, pid: packet.pid, secret: packet.secret };
      }

      const tlsVersion = socket instanceof TLSSocket ? (socket.getProtocol() ?? 'TLS') : null;
      const username = packet.params.get('user')!;
      const database = packet.params.get('database') || username;
      const login = (failure: LoginFailure) => ({
        user: username,
        userKnown: ctx.users.has(username),
        database,
        application: packet.params.get('application_name') ?? null,
        tlsVersion,
        failure,
      });
      if (ctx.requireTls && tlsVersion === null) {
        throw new HandshakeError(
          SqlState.InvalidAuthorizationSpecification,
          'dbtape: this proxy requires TLS: connect with sslmode=require',
          login('client'),
        );
      }
      if (packet.params.has('replication')) {
        throw new HandshakeError(
          SqlState.FeatureNotSupported,
          'dbtape: replication connections are not supported',
          login('client'),
        );
      }
      if (packet.minor > 0 || packet.protocolOptions.length > 0) {
        socket.write(negotiateProtocolVersion(0, packet.protocolOptions));
      }
      const user = ctx.users.get(username);
      const signedIn = await authenticate(socket, reader, user, username, ctx);
      if (!user || !signedIn) {
        throw new HandshakeError(
          SqlState.InvalidPassword,
          `password authentication failed for user "${username}"`,
          login('credentials'),
        );
      }
      // Handed over paused: bytes the client sends while the upstream connects must wait in the
      // socket for the pipeline (a 'data' event with no listener would drop them).
      socket.pause();
      return {
        kind: 'authenticated',
        socket,
        leftover: reader.detach(),
        user,
        database,
        params: packet.params,
        tlsVersion,
        saslFinal: signedIn.serverFinal,
        channelBound: signedIn.bound,
      };
    }
  } catch (err) {
    reader.detach();
    if (err instanceof HandshakeError) {
      const unknown = err.login && !err.login.userKnown ? err.login.user : null;
      const reason = unknown === null ? err.message : hideUnknownName(err.message, unknown);
      ctx.log.info(
        { code: err.sqlstate, reason, ...(unknown === null ? {} : { user_known: false }) },
        'client rejected during startup',
      );
      const message = dbtapeMessage(err.message);
      if (!socket.destroyed) socket.end(errorResponse({ severity: 'FATAL', code: err.sqlstate, message }));
      if (err.login) return { kind: 'rejected', login: { ...err.login, code: err.sqlstate, message } };
    } else {
      ctx.log.debug({ err: (err as Error).message }, 'client left during startup');
      socket.destroy();
    }
    return { kind: 'rejected' };
  }
}

/**
 * SCRAM-SHA-256 against the stored verifier, bound to dbtape's certificate when the client is on
 * TLS and wants it (SCRAM-SHA-256-PLUS: libpq's channel_binding, pgjdbc's channelBinding). Returns
 * the server-final message and whether the exchange was bound, or null on failure.
 */
async function authenticate(
  socket: Socket,
  reader: SocketReader,
  user: User | undefined,
  username: string,
  ctx: ClientHandshakeContext,
): Promise<{ serverFinal: Buffer; bound: boolean } | null> {
  const binding = channelBinding(socket, ctx.secureContext);
  const offered = scramMechanisms(binding);
  socket.write(authenticationSasl(offered));
  const first = await readSaslMessage(reader);
  let initial: { mechanism: string; data: Buffer };
  try {
    initial = decodeSaslInitialResponse(first);
  } catch (err) {
    throw new HandshakeError(
      SqlState.ProtocolViolation,
      `malformed SASLInitialResponse: ${(err as Error).message}`,
    );
  }
  if (!offered.includes(initial.mechanism)) {
    throw new HandshakeError(
      SqlState.ProtocolViolation,
      'client selected an invalid SASL authentication mechanism',
    );
  }
  const server = new ScramServer(user?.verifiers.scramSha256 ?? null, {
    mockSecret: ctx.mockSecret,
    username,
    channelBinding: binding,
    mechanism: initial.mechanism,
  });
  let serverFirst: Buffer;
  try {
    serverFirst = server.clientFirst(initial.data);
  } catch (err) {
    throw scramRefusal(err);
  }
  socket.write(authenticationSaslContinue(serverFirst));
  const final = await readSaslMessage(reader);
  let result: ReturnType<ScramServer['clientFinal']>;
  try {
    result = server.clientFinal(final);
  } catch (err) {
    throw scramRefusal(err);
  }
  return result.ok
    ? { serverFinal: result.serverFinal, bound: initial.mechanism === SCRAM_PLUS_MECHANISM }
    : null;
}

/** A SCRAM exchange the client got wrong (ScramError says how; PostgreSQL also answers 08P01). */
function scramRefusal(err: unknown): Error {
  if (!(err instanceof ScramError)) return err as Error;
  return new HandshakeError(SqlState.ProtocolViolation, err.message);
}

/**
 * The tls-server-end-point data of the certificate this TLS connection presented; null without
 * TLS. A listener's context holds one certificate, so it is hashed once, at its first TLS login
 * (getCertificate() decodes the whole certificate, fingerprints included, on every call).
 */
function channelBinding(socket: Socket, context: SecureContext | null): Buffer | null {
  if (!(socket instanceof TLSSocket) || !context) return null;
  let data = bindings.get(context);
  if (data === undefined) {
    const cert = socket.getCertificate();
    data = cert && 'raw' in cert && cert.raw ? tlsServerEndPoint(cert.raw) : null;
    bindings.set(context, data);
  }
  return data;
}

const bindings = new WeakMap<SecureContext, Buffer | null>();

async function readSaslMessage(reader: SocketReader): Promise<Buffer> {
  let type: number;
  let body: Buffer;
  try {
    [type, body] = await readTyped(reader, MAX_SASL_MESSAGE);
  } catch (err) {
    if (err instanceof RangeError) throw new HandshakeError(SqlState.ProtocolViolation, err.message);
    throw err;
  }
  if (type !== F.Password) {
    throw new HandshakeError(
      SqlState.ProtocolViolation,
      `expected SASL response, got message type ${JSON.stringify(String.fromCharCode(type))}`,
    );
  }
  return body;
}
