import { randomBytes } from 'node:crypto';
import { createServer, type Server, type Socket } from 'node:net';
import type { SecureContext } from 'node:tls';
import type { Config } from '../../config/types.js';
import type { Role, User } from '../../model/identity.js';
import { newSessionId } from '../../model/ids.js';
import type { Logger } from '../../model/logger.js';
import type { RecorderFactory } from '../../model/recorder.js';
import type { EndReason, LoginFailure, SessionMeta } from '../../model/session.js';
import { type Grant, grantFor, grantsOf } from '../../policy/access.js';
import { PolicyEngine } from '../../policy/index.js';
import {
  CHARSET_UTF8MB4_GENERAL_CI,
  ER_CON_COUNT_ERROR,
  ER_DBACCESS_DENIED_ERROR,
  ER_TABLEACCESS_DENIED_ERROR,
  encodeOk,
  quoteHidingCharset,
  SERVER_STATUS_AUTOCOMMIT,
  SERVER_STATUS_NO_BACKSLASH_ESCAPES,
} from '../../protocol/mysql/index.js';
import { ConnectionSlots, logEviction } from '../connection-slots.js';
import { recordFailedLogin } from '../failed-login.js';
import type { SessionRegistry } from '../session-registry.js';
import { type ClientHandshake, clientHandshake } from './client-handshake.js';
import { runControlSession } from './control-session.js';
import { errPacket, MysqlProxyError, upstreamFailure } from './errors.js';
import { type Killer, KillRouter } from './kill-router.js';
import { MysqlPipeline } from './pipeline.js';
import { PolicyGate } from './policy-gate.js';
import { ResultShaper } from './policy-results.js';
import { sideKill } from './side-kill.js';
import { connectUpstream, type MysqlUpstream, probeGreeting } from './upstream.js';

/** Accepts MySQL/MariaDB clients and runs each through handshake, upstream login and the pipeline. */

type Authenticated = Extract<ClientHandshake, { kind: 'authenticated' }>;

export interface MysqlListenerDeps {
  readonly config: Config;
  readonly secureContext: SecureContext | null;
  readonly recorders: RecorderFactory;
  readonly registry: SessionRegistry;
  readonly log: Logger;
}

/** Shown to clients when no MySQL target answers at start-up. */
export const FALLBACK_SERVER_VERSION = '8.0.36-dbtape';
const PROBE_TIMEOUT_MS = 3000;

export class MysqlListener {
  readonly server: Server;
  readonly kills = new KillRouter();
  /** The version string of the greeting (the first MySQL target's, read at start-up). */
  serverVersion = FALLBACK_SERVER_VERSION;
  private charset = CHARSET_UTF8MB4_GENERAL_CI;
  private readonly users: Map<string, User>;
  private readonly mockSecret = randomBytes(32);
  private readonly slots: ConnectionSlots;

  constructor(private readonly d: MysqlListenerDeps) {
    this.users = new Map(d.config.users.map((u) => [u.name, u]));
    this.slots = new ConnectionSlots(d.config.limits.maxClientConnections);
    this.server = createServer({ noDelay: true }, (s) => this.accept(s));
  }

  /** Read the server version to show clients, then listen. */
  async listen(host: string, port: number): Promise<void> {
    await this.probeVersion();
    await new Promise<void>((resolve, reject) => {
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

  /** Clients adapt to the server version (MariaDB vs MySQL features): show them the real one. */
  private async probeVersion(): Promise<void> {
    const target = this.d.config.targets.find((t) => t.protocol === 'mysql');
    if (!target) return;
    try {
      const g = await probeGreeting(
        target,
        Math.min(PROBE_TIMEOUT_MS, this.d.config.limits.connectTimeoutMs),
      );
      this.serverVersion = g.serverVersion;
      this.charset = g.charset || CHARSET_UTF8MB4_GENERAL_CI;
    } catch (err) {
      this.d.log.warn(
        { target: target.name, err: (err as Error).message, version: FALLBACK_SERVER_VERSION },
        'could not read the MySQL server version at start-up; showing a default',
      );
    }
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
      // MySQL refuses with an ERR in place of the greeting (sequence id 0).
      socket.end(errPacket(ER_CON_COUNT_ERROR, 'dbtape: too many connections', 0));
      return;
    }
    if (admission.kind === 'admitted-evicting')
      logEviction(this.d.log, admission.evicted, limits.maxClientConnections);
    const id = this.kills.allocate();
    socket.once('close', () => this.kills.release(id));
    this.serve(socket, id).catch((err: Error) => {
      this.d.log.error({ err: err.message, stack: err.stack }, 'unexpected error serving a client');
      socket.destroy();
    });
  }

  private async serve(socket: Socket, connectionId: number): Promise<void> {
    const { config, log } = this.d;
    const remote = { addr: socket.remoteAddress ?? '', port: socket.remotePort ?? 0 };
    // Every line about this client until its session starts names it (fail2ban-style alerting keys
    // on `remote`; the port tells clients behind one address apart), as on the PostgreSQL side.
    const clog = log.child({ remote: remote.addr, remotePort: remote.port });
    const timer = setTimeout(() => {
      clog.info({}, 'authentication timeout');
      socket.destroy();
    }, config.limits.authTimeoutMs);
    const hs = await clientHandshake(socket, {
      connectionId,
      serverVersion: this.serverVersion,
      charset: this.charset,
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
      if (hs.login)
        this.recordRefusal({ ...hs.login, roles: [] }, remote, null, hs.login.failure, hs.login.error);
      return;
    }

    const client = hs.socket;
    const fail = (e: MysqlProxyError, failure: LoginFailure, grant: Grant | null): void => {
      clog.info(
        { user: hs.user.name, target: hs.database, errno: e.error.errno, reason: e.message },
        'session refused',
      );
      hs.reply((seq) => e.packet(seq));
      client.end();
      client.resume(); // read the client's FIN, so the socket closes
      this.recordRefusal(authenticatedLogin(hs), remote, grant, failure, e);
    };
    if (hs.database === null) {
      this.controlSession(hs, remote, connectionId, clog);
      return;
    }
    const grant = grantFor(hs.user, hs.database, config.targets, config.roles);
    if (grant?.target.protocol !== 'mysql') {
      fail(
        new MysqlProxyError(
          ER_DBACCESS_DENIED_ERROR,
          `dbtape: target "${hs.database}" does not exist or you may not use it`,
        ),
        'target',
        null,
      );
      return;
    }
    await this.open(hs, grant, remote, connectionId, fail, true);
  }

  /**
   * Connect to the grant's target and start the session. `greet`: the client's login is still
   * unanswered (false when a connection without a database is promoted, already answered).
   */
  private async open(
    hs: Authenticated,
    grant: Grant,
    remote: { addr: string; port: number },
    connectionId: number,
    fail: (e: MysqlProxyError, failure: LoginFailure, grant: Grant) => void,
    greet: boolean,
  ): Promise<void> {
    const { config } = this.d;
    const client = hs.socket;
    // The handshake's character set is the login's SET NAMES. One whose characters can end in a
    // backslash byte makes the server end strings where the policy's parser does not, so only a
    // role that may SET NAMES to it may log in with it (PostgreSQL: decideStartupSettings too).
    const charset = quoteHidingCharset(hs.charset);
    const decision = charset
      ? PolicyEngine.forGrant(grant, config.roles).decideStartupSettings([
          { name: 'names', value: charset, scope: 'session' },
        ])
      : null;
    if (decision && !decision.allow) {
      fail(new MysqlProxyError(ER_TABLEACCESS_DENIED_ERROR, decision.message), 'client', grant);
      return;
    }
    let upstream: MysqlUpstream;
    try {
      upstream = await connectUpstream(
        grant.target,
        {
          capabilities: hs.capabilities,
          charset: hs.charset,
          maxPacketSize: hs.maxPacketSize,
          attributes: hs.attributes,
          localFiles: allowsLocalInfile(grant, config.roles),
        },
        config.limits.connectTimeoutMs,
      );
    } catch (err) {
      const e = err instanceof MysqlProxyError ? err : upstreamFailure(`dbtape: ${(err as Error).message}`);
      fail(e, 'upstream', grant);
      return;
    }
    if (client.destroyed) {
      upstream.socket.destroy();
      return;
    }
    this.startSession(hs, grant, upstream, remote, connectionId, greet);
  }

  /** A login that did not become a session, in the audit trail (failed-login.ts). */
  private recordRefusal(
    who: LoginAttempt,
    remote: { addr: string; port: number },
    grant: Grant | null,
    failure: LoginFailure,
    e: MysqlProxyError,
  ): void {
    recordFailedLogin(this.d.recorders, {
      protocol: 'mysql',
      user: who.user,
      userKnown: who.userKnown,
      roles: grant?.roles ?? who.roles,
      clientAddr: remote.addr,
      clientPort: remote.port,
      application: who.application,
      clientTls: who.tlsVersion,
      target: grant?.target.name ?? who.database ?? '',
      upstreamDatabase: grant?.target.database,
      upstreamUser: grant?.target.user,
      failure,
      code: e.error.sqlState,
      errno: e.error.errno,
      message: e.clientMessage,
    });
  }

  /** Who may kill what: the user's own sessions, and any on targets where they are admin. */
  private killer(user: User): Killer {
    const { config } = this.d;
    return {
      user: user.name,
      mayKillOthers: (t) =>
        user.roles.includes('admin') ||
        grantFor(user, t.name, config.targets, config.roles)?.access === 'admin',
    };
  }

  /**
   * No database named: a connection for KILL (the mysql client's Ctrl-C connects so), which
   * becomes a session on the user's only MySQL target at its first other command, or on the target
   * a first COM_INIT_DB names.
   */
  private controlSession(
    hs: Authenticated,
    remote: { addr: string; port: number },
    connectionId: number,
    /** The log naming this client (serve's). */
    clog: Logger,
  ): void {
    const { config, log } = this.d;
    hs.reply((seq) => encodeOk({ statusFlags: SERVER_STATUS_AUTOCOMMIT }, hs.capabilities, seq));
    const killer = this.killer(hs.user);
    const grants = grantsOf(hs.user, config.targets, config.roles).filter(
      (g) => g.target.protocol === 'mysql',
    );
    const only = grants.length === 1 ? grants[0]! : null;
    log.info(
      { user: hs.user.name, client: hs.socket.remoteAddress, target: only?.target.name },
      only
        ? 'connection without a database (its target is the only one the user may use)'
        : 'connection without a target (KILL only)',
    );
    const promote = (to: Grant, rest: Buffer): void => {
      // The login was answered already: a failure now answers the command the client sent (seq 1).
      const fail = (e: MysqlProxyError, failure: LoginFailure, grant: Grant): void => {
        clog.info(
          { user: hs.user.name, target: to.target.name, errno: e.error.errno, reason: e.message },
          'session refused',
        );
        hs.socket.end(e.packet(1));
        hs.socket.resume();
        this.recordRefusal(authenticatedLogin(hs), remote, grant, failure, e);
      };
      this.open({ ...hs, leftover: rest }, to, remote, connectionId, fail, false).catch((err: Error) => {
        log.error({ err: err.message, stack: err.stack }, 'unexpected error opening a session');
        hs.socket.destroy();
      });
    };
    runControlSession({
      socket: hs.socket,
      leftover: hs.leftover,
      capabilities: hs.capabilities,
      resolve: (id) => this.kills.resolve(id, killer),
      promote: only ? (rest) => promote(only, rest) : null,
      targetDatabase: (name) => grants.find((g) => g.target.name === name)?.target.database ?? null,
      promoteTo: (name, rest) => promote(grants.find((g) => g.target.name === name)!, rest),
      kill: async (victim, query) => {
        victim.notify(`KILL ${query ? 'QUERY ' : ''}by ${hs.user.name} (a connection without a target)`);
        log.info({ user: hs.user.name, upstreamThread: victim.upstreamThreadId, query }, 'KILL relayed');
        return sideKill(victim.target, victim.upstreamThreadId, query, config.limits.connectTimeoutMs);
      },
      log,
    });
  }

  private startSession(
    hs: Authenticated,
    grant: Grant,
    upstream: MysqlUpstream,
    remote: { addr: string; port: number },
    connectionId: number,
    greet: boolean,
  ): void {
    const { config, log, recorders } = this.d;
    const target = grant.target;
    const meta: SessionMeta = {
      id: newSessionId(),
      protocol: 'mysql',
      user: hs.user.name,
      roles: grant.roles,
      clientAddr: remote.addr,
      clientPort: remote.port,
      application: hs.attributes?.get('program_name') ?? null,
      clientTls: hs.tlsVersion,
      target: target.name,
      upstreamDatabase: target.database,
      upstreamUser: target.user,
      startedAtUs: Date.now() * 1000,
    };
    const slog = log.child({ session: meta.id });
    if (greet) hs.reply((seq) => encodeOk({ statusFlags: upstream.statusFlags }, hs.capabilities, seq));
    const recorder = recorders.open(meta);
    this.kills.register(connectionId, {
      user: hs.user.name,
      target,
      upstreamThreadId: upstream.threadId,
      notify: (detail) => recorder.event({ kind: 'command', command: 'KILL', detail }),
    });
    const stopStatement = (done?: () => void): void => {
      sideKill(target, upstream.threadId, true, config.limits.connectTimeoutMs)
        .catch((err: Error) => slog.warn({ err: err.message }, 'could not stop the upstream statement'))
        .finally(() => done?.());
    };
    const killer = this.killer(hs.user);
    const { policy, shaper } = policyFor(grant, config.roles, upstream.statusFlags);
    const pipeline = new MysqlPipeline({
      client: hs.socket,
      upstream: upstream.socket,
      clientLeftover: hs.leftover,
      upstreamLeftover: upstream.leftover,
      clientCapabilities: hs.capabilities,
      clientCollation: hs.charset,
      upstreamCapabilities: upstream.capabilities,
      recorder,
      observe: recorders.active,
      strict: recorders.strict,
      capture: recorders.capture,
      maxRows: recorders.maxRows,
      maxMessageSize: config.limits.maxMessageSize,
      localInfile: allowsLocalInfile(grant, config.roles),
      policy,
      shaper,
      readOnly: grant.access === 'read',
      targetDatabase:
        target.database === target.name ? null : { name: target.name, database: target.database },
      resolveKill: (id, query) => {
        const victim = this.kills.resolve(id, killer, target);
        if (victim === null) return null;
        victim.notify(`KILL ${query ? 'QUERY ' : ''}by ${hs.user.name} (dbtape connection ${connectionId})`);
        return victim.upstreamThreadId;
      },
      killUpstreamQuery: stopStatement,
      log: slog,
      onEnd: (reason: EndReason, detail?: string) => {
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
        application: meta.application,
        connectionId,
        upstreamThread: upstream.threadId,
        upstreamTls: upstream.tls,
      },
      'session started',
    );
    pipeline.start();
  }
}

/**
 * The session's policy from the roles that grant the target. An admin role without rules, masking
 * or max_rows gets neither (no parsing, no per-row work).
 */
function policyFor(
  grant: Grant,
  roles: readonly Role[],
  upstreamStatus: number,
): { policy: PolicyGate | null; shaper: ResultShaper | null } {
  const engine = PolicyEngine.forGrant(grant, roles);
  const policy = engine.unrestricted ? null : new PolicyGate(engine);
  policy?.serverStatus((upstreamStatus & SERVER_STATUS_NO_BACKSLASH_ESCAPES) !== 0);
  const shaper =
    engine.maxRows !== null || engine.masking !== null
      ? new ResultShaper(engine.maxRows, engine.masking)
      : null;
  return { policy, shaper };
}

/** LOAD DATA LOCAL INFILE passes the client's file only when a role granting the target allows it. */
function allowsLocalInfile(grant: Grant, roles: readonly Role[]): boolean {
  return grant.roles.some((name) => roles.find((r) => r.name === name)?.localInfile === true);
}

/** What is known of a login attempt's client. */
interface LoginAttempt {
  readonly user: string;
  readonly userKnown: boolean;
  readonly roles: readonly string[];
  readonly database: string | null;
  readonly application: string | null;
  readonly tlsVersion: string | null;
}

function authenticatedLogin(hs: Authenticated): LoginAttempt {
  return {
    user: hs.user.name,
    userKnown: true,
    roles: hs.user.roles,
    database: hs.database,
    application: hs.attributes?.get('program_name') ?? null,
    tlsVersion: hs.tlsVersion,
  };
}
