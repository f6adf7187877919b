import { randomBytes } from 'node:crypto';
import { createServer, type Server, type Socket } from 'node:net';
import type { SecureContext } from 'node:tls';
import type { Config } from '../../config/types.js';
import type { User } from '../../model/identity.js';
import { newSessionId } from '../../model/ids.js';
import type { Logger } from '../../model/logger.js';
import type { RecorderFactory } from '../../model/recorder.js';
import type { EndReason, LoginFailure, SessionMeta } from '../../model/session.js';
import { grantFor } from '../../policy/access.js';
import { loadPolicyParsers, PolicyEngine } from '../../policy/index.js';
import { startupSettings, upstreamStartupParams } from '../../policy/startup-params.js';
import { B } from '../../protocol/postgres/codes.js';
import { decodeParameterStatus } from '../../protocol/postgres/decode.js';
import {
  authenticationOk,
  authenticationSaslFinal,
  backendKeyData,
  errorResponse,
  readyForQuery,
} from '../../protocol/postgres/encode.js';
import { SqlState } from '../../protocol/postgres/sqlstate.js';
import { ConnectionSlots, logEviction } from '../connection-slots.js';
import { recordFailedLogin } from '../failed-login.js';
import type { SessionRegistry } from '../session-registry.js';
import { CancelRouter } from './cancel-router.js';
import { clientHandshake } from './client-handshake.js';
import { PgPipeline } from './pipeline.js';
import { connectUpstream, UpstreamError } from './upstream.js';

/** Accepts PostgreSQL clients and runs each through handshake, upstream login and the pipeline. */

export interface PgListenerDeps {
  readonly config: Config;
  readonly secureContext: SecureContext | null;
  readonly recorders: RecorderFactory;
  readonly registry: SessionRegistry;
  readonly log: Logger;
}

export class PgListener {
  readonly server: Server;
  private readonly users: Map<string, User>;
  private readonly cancels: CancelRouter;
  /** Per-process secret for fake SCRAM salts of unknown users. */
  private readonly mockSecret = randomBytes(32);
  private readonly slots: ConnectionSlots;

  constructor(private readonly d: PgListenerDeps) {
    this.users = new Map(d.config.users.map((u) => [u.name, u]));
    this.cancels = new CancelRouter(d.log);
    this.slots = new ConnectionSlots(d.config.limits.maxClientConnections);
    this.server = createServer({ noDelay: true }, (s) => this.accept(s));
  }

  async listen(host: string, port: number): Promise<void> {
    // The SQL parser is loaded only where some role has statements to check.
    const roles = this.d.config.roles;
    if (roles.some((r) => !new PolicyEngine('postgres', [r], 'public').unrestricted))
      await loadPolicyParsers();
    return new Promise((resolve, reject) => {
      this.server.once('error', reject);
      this.server.listen(port, host, () => {
        this.server.off('error', reject);
        resolve();
      });
    });
  }

  get address(): string {
    const a = this.server.address();
    if (!a || typeof a !== 'object') return String(a);
    // Bracketed as in listen: (and the dashboard's address), so `::1:6432` is not read as a host.
    return a.family === 'IPv6' ? `[${a.address}]:${a.port}` : `${a.address}:${a.port}`;
  }

  private accept(socket: Socket): void {
    const { limits } = this.d.config;
    socket.on('error', () => {}); // errors surface as 'close'; the handshake and pipeline log what matters
    const admission = this.slots.admit(socket);
    if (admission.kind === 'full') {
      this.d.log.warn(
        { remote: socket.remoteAddress, remotePort: socket.remotePort, limit: limits.maxClientConnections },
        'connection limit reached',
      );
      socket.end(
        errorResponse({
          severity: 'FATAL',
          code: SqlState.TooManyConnections,
          message: 'dbtape: too many connections',
        }),
      );
      return;
    }
    if (admission.kind === 'admitted-evicting')
      logEviction(this.d.log, admission.evicted, limits.maxClientConnections);
    this.serve(socket).catch((err: Error) => {
      this.d.log.error({ err: err.message, stack: err.stack }, 'unexpected error serving a client');
      socket.destroy();
    });
  }

  private async serve(socket: Socket): Promise<void> {
    const { config, log } = this.d;
    const remote = { addr: socket.remoteAddress ?? '', port: socket.remotePort ?? 0 };
    // Every line about this client until its session starts names it, as the MySQL side does:
    // fail2ban-style alerting keys on `remote` (the port tells clients behind one address apart).
    const clog = log.child({ remote: remote.addr, remotePort: remote.port });
    const timer = setTimeout(() => {
      clog.info({}, 'authentication timeout');
      socket.destroy();
    }, config.limits.authTimeoutMs);
    const hs = await clientHandshake(socket, {
      secureContext: this.d.secureContext,
      requireTls: config.tls.require,
      users: this.users,
      mockSecret: this.mockSecret,
      log: clog,
    }).finally(() => {
      clearTimeout(timer);
      this.slots.authenticated(socket);
    });

    if (hs.kind === 'rejected') {
      if (hs.login) {
        const { database, tlsVersion, ...login } = hs.login;
        recordFailedLogin(this.d.recorders, {
          ...login,
          protocol: 'postgres',
          clientAddr: remote.addr,
          clientPort: remote.port,
          clientTls: tlsVersion,
          target: database,
        });
      }
      return;
    }
    if (hs.kind === 'cancel') {
      this.cancels.cancel(hs.pid, hs.secret, clog);
      hs.socket.end();
      return;
    }
    const client = hs.socket;
    const grant = grantFor(hs.user, hs.database, config.targets, config.roles);
    const fail = (failure: LoginFailure, code: string, message: string): void => {
      clog.info({ user: hs.user.name, target: hs.database, code, reason: message }, 'session refused');
      client.end(errorResponse({ severity: 'FATAL', code, message }));
      client.resume(); // read the client's FIN, so the socket closes
      const known = grant?.target.protocol === 'postgres' ? grant : null;
      recordFailedLogin(this.d.recorders, {
        protocol: 'postgres',
        user: hs.user.name,
        userKnown: true,
        roles: known?.roles ?? hs.user.roles,
        clientAddr: remote.addr,
        clientPort: remote.port,
        application: hs.params.get('application_name') ?? null,
        clientTls: hs.tlsVersion,
        target: hs.database,
        upstreamDatabase: known?.target.database,
        upstreamUser: known?.target.user,
        failure,
        code,
        message,
      });
    };
    if (grant?.target.protocol !== 'postgres') {
      fail(
        'target',
        SqlState.InvalidCatalogName,
        `dbtape: target "${hs.database}" does not exist or you may not use it`,
      );
      return;
    }
    const startup = upstreamStartupParams(hs.params);
    if (!startup.ok) {
      fail('client', SqlState.FeatureNotSupported, startup.message);
      return;
    }
    // What the session may not SET it may not bring along at login either (search_path under
    // table rules, standard_conforming_strings off...): the server would apply it before the
    // first statement the policy sees.
    const policy = PolicyEngine.forGrant(grant, config.roles);
    const settings = policy.decideStartupSettings(startupSettings(startup.params));
    if (!settings.allow) {
      fail('client', SqlState.InsufficientPrivilege, settings.message);
      return;
    }
    // A read-only grant starts the upstream session read-only (clients cannot set this at
    // startup: upstreamStartupParams refuses it), behind the statement policy, which denies
    // switching it off: defence in depth for what no parse tree shows (a function that writes).
    if (grant.access === 'read') startup.params.set('default_transaction_read_only', 'on');
    client.write(authenticationSaslFinal(hs.saslFinal));

    let upstream: Awaited<ReturnType<typeof connectUpstream>>;
    try {
      upstream = await connectUpstream(grant.target, startup.params, config.limits.connectTimeoutMs);
    } catch (err) {
      const e =
        err instanceof UpstreamError ? err : new UpstreamError(SqlState.ConnectionFailure, String(err));
      fail('upstream', e.sqlstate, e.message);
      return;
    }
    if (client.destroyed) {
      upstream.socket.destroy();
      return;
    }

    const meta: SessionMeta = {
      id: newSessionId(),
      protocol: 'postgres',
      user: hs.user.name,
      roles: grant.roles,
      clientAddr: remote.addr,
      clientPort: remote.port,
      application: hs.params.get('application_name') ?? null,
      clientTls: hs.tlsVersion,
      target: grant.target.name,
      upstreamDatabase: grant.target.database,
      upstreamUser: grant.target.user,
      startedAtUs: Date.now() * 1000,
    };
    const slog = log.child({ session: meta.id });
    const key = this.cancels.register(grant.target, upstream.pid, upstream.secret);
    client.write(
      Buffer.concat([
        authenticationOk(),
        ...upstream.relay,
        backendKeyData(key.pid, key.secret),
        readyForQuery('I'),
      ]),
    );
    const recorder = this.d.recorders.open(meta);
    const pipeline = new PgPipeline({
      client,
      upstream: upstream.socket,
      clientLeftover: hs.leftover,
      upstreamLeftover: upstream.leftover,
      recorder,
      observe: this.d.recorders.active,
      strict: this.d.recorders.strict,
      capture: this.d.recorders.capture,
      maxRows: this.d.recorders.maxRows,
      maxMessageSize: config.limits.maxMessageSize,
      application: meta.application,
      policy,
      log: slog,
      readOnly: grant.access === 'read',
      cancelUpstream: (done) => this.cancels.sendCancel(grant.target, upstream.pid, upstream.secret, done),
      clientEncoding: startupParameter(upstream.relay, 'client_encoding'),
      onEnd: (reason: EndReason, detail?: string) => {
        this.cancels.release(key.pid);
        this.d.registry.remove(meta.id);
        recorder.event({ kind: 'end', reason, detail });
        slog.info({ reason, detail }, 'session ended');
      },
    });
    this.d.registry.add({ meta, kill: (reason, end) => pipeline.kill(reason, end) });
    slog.info(
      {
        user: meta.user,
        target: meta.target,
        client: `${remote.addr}:${remote.port}`,
        tls: meta.clientTls,
        channelBound: hs.channelBound,
        application: meta.application,
        upstreamTls: upstream.tls,
        upstreamChannelBound: upstream.channelBound,
      },
      'session started',
    );
    pipeline.start();
  }
}

/** A parameter the server reported at login (ParameterStatus among the startup messages). */
function startupParameter(relay: readonly Buffer[], name: string): string | undefined {
  for (const m of relay) {
    if (m[0] !== B.ParameterStatus) continue;
    const p = decodeParameterStatus(m.subarray(5));
    if (p.name === name) return p.value;
  }
  return undefined;
}
