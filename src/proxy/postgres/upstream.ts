import { connect as netConnect, type Socket } from 'node:net';
import { TLSSocket } from 'node:tls';
import type { Target } from '../../model/identity.js';
import { tlsServerEndPoint } from '../../protocol/postgres/channel-binding.js';
import { Auth, B } from '../../protocol/postgres/codes.js';
import { decodeAuthentication, decodeNotice, decodeSaslMechanisms } from '../../protocol/postgres/decode.js';
import {
  passwordMessage,
  saslInitialResponse,
  saslResponse,
  sslRequest,
  startupMessage,
} from '../../protocol/postgres/encode.js';
import { md5Response } from '../../protocol/postgres/md5.js';
import {
  type ClientBinding,
  SCRAM_MECHANISM,
  SCRAM_PLUS_MECHANISM,
  ScramClient,
} from '../../protocol/postgres/scram.js';
import { SqlState } from '../../protocol/postgres/sqlstate.js';
import { readTyped, SocketReader } from '../socket-reader.js';
import { startTls } from '../tls.js';

/**
 * Opens an authenticated connection to a target with the injected credentials
 * (PostgreSQL docs, "Message Flow: Start-up"; libpq's sslmode semantics for `tls`).
 */

export class UpstreamError extends Error {
  readonly code = 'DBTAPE_UPSTREAM';
  constructor(
    readonly sqlstate: string,
    message: string,
  ) {
    super(message);
  }
}

export interface Upstream {
  readonly socket: Socket;
  readonly leftover: Buffer;
  /** ParameterStatus and NoticeResponse messages of the startup, to relay to the client as they are. */
  readonly relay: readonly Buffer[];
  readonly pid: number;
  readonly secret: number;
  readonly tls: boolean;
  /** dbtape's SCRAM login was bound to the target's certificate (SCRAM-SHA-256-PLUS). */
  readonly channelBound: boolean;
}

const MAX_STARTUP_REPLY = 1 << 20;

export async function connectUpstream(
  target: Target,
  params: ReadonlyMap<string, string>,
  timeoutMs: number,
): Promise<Upstream> {
  let socket: Socket | null = null;
  const timer = setTimeout(() => socket?.destroy(new Error(`timed out after ${timeoutMs} ms`)), timeoutMs);
  try {
    socket = await openTcp(target);
    const secured = await negotiateTls(socket, target);
    socket = secured.socket;
    return await login(socket, target, params, secured.tls);
  } catch (err) {
    socket?.destroy();
    if (err instanceof UpstreamError) throw err;
    throw new UpstreamError(
      SqlState.SqlclientUnableToEstablishSqlconnection,
      `dbtape: cannot connect to target "${target.name}": ${(err as Error).message}`,
    );
  } finally {
    clearTimeout(timer);
  }
}

function openTcp(target: Target): Promise<Socket> {
  return new Promise((resolve, reject) => {
    const s = netConnect({ host: target.host, port: target.port });
    s.once('connect', () => {
      s.off('error', reject);
      resolve(s);
    });
    s.once('error', reject);
  });
}

async function negotiateTls(socket: Socket, target: Target): Promise<{ socket: Socket; tls: boolean }> {
  if (target.tls === 'disable') return { socket, tls: false };
  socket.write(sslRequest());
  const reader = new SocketReader(socket, 1);
  await reader.need(1);
  const answer = reader.take(1)[0];
  reader.detach();
  if (answer === 0x4e /* 'N' */) {
    if (target.tls === 'prefer') return { socket, tls: false };
    throw new UpstreamError(
      SqlState.SqlclientUnableToEstablishSqlconnection,
      `dbtape: target "${target.name}" requires TLS (tls: ${target.tls}) but the server does not offer it`,
    );
  }
  if (answer !== 0x53 /* 'S' */) {
    throw new Error(`unexpected answer to SSLRequest: 0x${answer.toString(16)}`);
  }
  return { socket: await startTls(socket, target), tls: true };
}

async function login(
  socket: Socket,
  target: Target,
  clientParams: ReadonlyMap<string, string>,
  tls: boolean,
): Promise<Upstream> {
  const params = new Map<string, string>([
    ['user', target.user],
    ['database', target.database],
  ]);
  for (const [k, v] of clientParams) if (k !== 'user' && k !== 'database') params.set(k, v);
  socket.write(startupMessage(params));
  const reader = new SocketReader(socket, MAX_STARTUP_REPLY);
  const relay: Buffer[] = [];
  let scram: ScramClient | null = null;
  let pid = 0;
  let secret = 0;
  for (;;) {
    const [type, body] = await readTyped(reader, MAX_STARTUP_REPLY);
    switch (type) {
      case B.Authentication: {
        const { code, data } = decodeAuthentication(body);
        scram = answerAuth(socket, target, code, data, scram, tls);
        break;
      }
      case B.ErrorResponse: {
        const n = decodeNotice(body);
        throw new UpstreamError(
          n.code || SqlState.SqlclientUnableToEstablishSqlconnection,
          `dbtape: target "${target.name}" refused the connection: ${n.message}`,
        );
      }
      case B.BackendKeyData:
        pid = body.readInt32BE(0);
        secret = body.readInt32BE(4);
        break;
      case B.ParameterStatus:
      case B.NoticeResponse:
        relay.push(frame(type, body));
        break;
      case B.ReadyForQuery:
        return {
          socket,
          leftover: reader.detach(),
          relay,
          pid,
          secret,
          tls,
          channelBound: scram?.bound ?? false,
        };
      case B.NegotiateProtocolVersion:
        break;
      default:
        throw new Error(`unexpected message type 0x${type.toString(16)} during startup`);
    }
  }
}

/**
 * Channel binding as libpq's channel_binding (target key `channel_binding`, default prefer): over
 * TLS, bound to the certificate the target presented whenever it offers SCRAM-SHA-256-PLUS, so
 * that a man in the middle who terminates TLS (possible whenever the target's certificate is not
 * verified) cannot relay the exchange. A certificate with no binding hash (Ed25519) leaves the
 * exchange unbound; `require` refuses to go on without binding.
 */
function upstreamBinding(socket: Socket, offered: readonly string[], target: Target): ClientBinding {
  if (target.channelBinding === 'disable') return { kind: 'none' };
  let binding: ClientBinding = { kind: 'none' };
  if (socket instanceof TLSSocket) {
    const cert = socket.getPeerCertificate();
    const data = cert?.raw ? tlsServerEndPoint(cert.raw) : null;
    if (data !== null)
      binding = offered.includes(SCRAM_PLUS_MECHANISM) ? { kind: 'bound', data } : { kind: 'unoffered' };
  }
  if (binding.kind !== 'bound' && target.channelBinding === 'require') {
    throw unbound(target, 'it offered no SCRAM-SHA-256-PLUS over TLS with a certificate dbtape can bind to');
  }
  return binding;
}

function authName(code: number): string {
  if (code === Auth.MD5Password) return 'an md5 password';
  if (code === Auth.CleartextPassword) return 'a cleartext password';
  return `authentication method ${code}`;
}

/** channel_binding: require, and the target authenticated (or would) without it. */
function unbound(target: Target, why: string): UpstreamError {
  return new UpstreamError(
    SqlState.SqlclientUnableToEstablishSqlconnection,
    `dbtape: target "${target.name}" has channel_binding: require, but ${why}`,
  );
}

function answerAuth(
  socket: Socket,
  target: Target,
  code: number,
  data: Buffer,
  scram: ScramClient | null,
  tls: boolean,
): ScramClient | null {
  if (target.channelBinding === 'require' && !scram?.bound) {
    // A relay in between can answer AuthenticationOk or ask for md5 without knowing anything.
    if (code === Auth.Ok) throw unbound(target, 'it let dbtape in without SCRAM channel binding');
    if (code !== Auth.SASL) throw unbound(target, `it asked for ${authName(code)} instead of SCRAM`);
  }
  if (code === Auth.Ok) return scram;
  const password = target.password;
  if (password === null) {
    throw new UpstreamError(
      SqlState.InvalidAuthorizationSpecification,
      `dbtape: target "${target.name}" asks for a password but none is configured (password_env or password_file)`,
    );
  }
  switch (code) {
    case Auth.CleartextPassword:
      if (!tls) {
        throw new UpstreamError(
          SqlState.InvalidAuthorizationSpecification,
          `dbtape: target "${target.name}" asks for the password in cleartext over an unencrypted connection; refusing (set tls: require)`,
        );
      }
      socket.write(passwordMessage(password));
      return scram;
    case Auth.MD5Password:
      socket.write(passwordMessage(md5Response(target.user, password, data.subarray(0, 4))));
      return scram;
    case Auth.SASL: {
      const offered = decodeSaslMechanisms(data);
      if (!offered.includes(SCRAM_MECHANISM) && !offered.includes(SCRAM_PLUS_MECHANISM)) {
        throw new UpstreamError(
          SqlState.FeatureNotSupported,
          `dbtape: target "${target.name}" offers no SASL mechanism dbtape supports`,
        );
      }
      const client = new ScramClient(password, { binding: upstreamBinding(socket, offered, target) });
      socket.write(saslInitialResponse(client.mechanism, client.clientFirst()));
      return client;
    }
    case Auth.SASLContinue:
      if (!scram) throw new Error('SASLContinue before SASL');
      socket.write(saslResponse(scram.serverFirst(data)));
      return scram;
    case Auth.SASLFinal:
      if (!scram) throw new Error('SASLFinal before SASL');
      scram.serverFinal(data);
      return scram;
    default:
      throw new UpstreamError(
        SqlState.FeatureNotSupported,
        `dbtape: target "${target.name}" asks for an authentication method dbtape does not support (code ${code})`,
      );
  }
}

function frame(type: number, body: Buffer): Buffer {
  const out = Buffer.allocUnsafe(5 + body.length);
  out[0] = type;
  out.writeInt32BE(4 + body.length, 1);
  body.copy(out, 5);
  return out;
}
