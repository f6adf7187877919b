import { connect as netConnect, type Socket } from 'node:net';
import type { Target } from '../../model/identity.js';
import {
  CLIENT_SSL,
  decodeErr,
  decodeInitialHandshake,
  ERR_HEADER,
  encodeHandshakeResponse,
  encodeSslRequest,
  hasCap,
  type InitialHandshake,
} from '../../protocol/mysql/index.js';
import { startTls } from '../tls.js';
import { upstreamCapabilities } from './capabilities.js';
import { HandshakeChannel } from './channel.js';
import { ER_CONNECT_TO_FOREIGN_DATA_SOURCE, MysqlProxyError, upstreamFailure } from './errors.js';
import { finishLogin, firstResponse, initialPlugin, type LoginState } from './upstream-auth.js';

/**
 * Opens an authenticated connection to a MySQL/MariaDB target (MySQL "Connection Phase"),
 * carrying over the capabilities, collation and connect attributes the client chose.
 */

export interface UpstreamRequest {
  /** Capabilities negotiated with the client. */
  readonly capabilities: number;
  readonly charset: number;
  readonly maxPacketSize: number;
  readonly attributes: ReadonlyMap<string, string> | null;
  /** LOAD DATA LOCAL INFILE may pass the client's file (else CLIENT_LOCAL_FILES is not offered). */
  readonly localFiles: boolean;
}

export interface MysqlUpstream {
  readonly socket: Socket;
  readonly leftover: Buffer;
  /** The server's connection (thread) id: what KILL needs. */
  readonly threadId: number;
  readonly serverVersion: string;
  /** Capabilities in effect on this connection. */
  readonly capabilities: number;
  /** Status flags of the login's OK packet. */
  readonly statusFlags: number;
  readonly tls: boolean;
}

/** Login packets are small; an RSA public key is the largest (< 1 KiB). */
const MAX_LOGIN_PACKET = 64 * 1024;

export async function connectUpstream(
  target: Target,
  req: UpstreamRequest,
  timeoutMs: number,
): Promise<MysqlUpstream> {
  let socket: Socket | null = null;
  const timer = setTimeout(() => socket?.destroy(new Error(`timed out after ${timeoutMs} ms`)), timeoutMs);
  try {
    socket = await openTcp(target);
    const ch = new HandshakeChannel(socket, MAX_LOGIN_PACKET);
    const greeting = await readGreeting(ch, target);
    const tls = wantsTls(target, greeting);
    const capabilities = upstreamCapabilities(req.capabilities, greeting.capabilities, tls, req.localFiles);
    const prefix = {
      capabilities,
      maxPacketSize: req.maxPacketSize,
      charset: req.charset,
      mariadbCapabilities: 0,
    };
    if (tls) {
      ch.write((seq) => encodeSslRequest(prefix, seq));
      const secure = await startTls(ch.socket, target);
      ch.switchTo(secure);
      socket = secure;
    }
    const login: LoginState = {
      target,
      tls,
      plugin: initialPlugin(greeting.authPluginName),
      nonce: greeting.scramble,
    };
    const authResponse = firstResponse(login);
    const attributes = new Map(req.attributes ?? []);
    attributes.set('dbtape', 'proxy');
    ch.write((seq) =>
      encodeHandshakeResponse(
        {
          ...prefix,
          username: target.user,
          authResponse,
          database: target.database,
          authPluginName: login.plugin,
          connectAttributes: attributes,
        },
        seq,
      ),
    );
    const statusFlags = await finishLogin(ch, login, capabilities);
    return {
      socket: ch.socket,
      leftover: ch.detach(),
      threadId: greeting.connectionId,
      serverVersion: greeting.serverVersion,
      capabilities,
      statusFlags,
      tls,
    };
  } catch (err) {
    socket?.destroy();
    if (err instanceof MysqlProxyError) throw err;
    throw new MysqlProxyError(
      ER_CONNECT_TO_FOREIGN_DATA_SOURCE,
      `dbtape: cannot connect to target "${target.name}": ${(err as Error).message}`,
      'DBTAPE_MYSQL_UPSTREAM',
    );
  } finally {
    clearTimeout(timer);
  }
}

/** The greeting alone, for the server version dbtape shows clients; the connection is dropped. */
export async function probeGreeting(target: Target, timeoutMs: number): Promise<InitialHandshake> {
  let socket: Socket | null = null;
  const timer = setTimeout(() => socket?.destroy(new Error(`timed out after ${timeoutMs} ms`)), timeoutMs);
  try {
    socket = await openTcp(target);
    const ch = new HandshakeChannel(socket, MAX_LOGIN_PACKET);
    const greeting = await readGreeting(ch, target);
    ch.detach();
    return greeting;
  } finally {
    clearTimeout(timer);
    socket?.destroy();
  }
}

function openTcp(target: Target): Promise<Socket> {
  return new Promise((resolve, reject) => {
    const s = netConnect({ host: target.host, port: target.port });
    s.once('connect', () => {
      s.off('error', reject);
      s.setNoDelay(true);
      resolve(s);
    });
    s.once('error', reject);
  });
}

async function readGreeting(ch: HandshakeChannel, target: Target): Promise<InitialHandshake> {
  const payload = await ch.read();
  if (payload[0] === ERR_HEADER) {
    const err = decodeErr(payload);
    const why = err.ok ? `${err.value.errno} ${err.value.message}` : 'malformed error packet';
    throw upstreamFailure(`dbtape: target "${target.name}" refused the connection: ${why}`);
  }
  const greeting = decodeInitialHandshake(payload);
  if (!greeting.ok) throw upstreamFailure(`dbtape: target "${target.name}": ${greeting.error.message}`);
  return greeting.value;
}

function wantsTls(target: Target, greeting: InitialHandshake): boolean {
  if (target.tls === 'disable') return false;
  if (hasCap(greeting.capabilities, CLIENT_SSL)) return true;
  if (target.tls === 'prefer') return false;
  throw new MysqlProxyError(
    ER_CONNECT_TO_FOREIGN_DATA_SOURCE,
    `dbtape: target "${target.name}" requires TLS (tls: ${target.tls}) but the server does not offer it`,
    'DBTAPE_MYSQL_UPSTREAM',
  );
}
