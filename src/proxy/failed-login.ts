/**
 * Logins that never become sessions (a wrong password, a target the user may not use, a target
 * that cannot be reached) are part of the audit trail: each is recorded as a short session of its
 * own, `start`, an `auth` event saying why, and `end` with reason `login_failed`, with who tried,
 * from where, with which client, and which target they asked for.
 */
import { newSessionId } from '../model/ids.js';
import type { RecorderFactory } from '../model/recorder.js';
import type { LoginFailure, Protocol, SessionMeta } from '../model/session.js';

export interface FailedLogin {
  readonly protocol: Protocol;
  /** The user name the client gave (nothing is recorded before a client names one). */
  readonly user: string;
  /** `user` is a configured user; if not, the name is recorded as UNKNOWN_USER, here and in `message`. */
  readonly userKnown: boolean;
  /** The user's roles when dbtape knows them (authenticated, then refused), else none. */
  readonly roles?: readonly string[];
  readonly clientAddr: string;
  readonly clientPort: number;
  readonly application: string | null;
  readonly clientTls: string | null;
  /** The target the client asked for (its database name), '' when it named none. */
  readonly target: string;
  /** Where dbtape would have connected, when the target was known. */
  readonly upstreamDatabase?: string;
  readonly upstreamUser?: string;
  readonly failure: LoginFailure;
  readonly code: string;
  readonly errno?: number;
  /** The message sent to the client. */
  readonly message: string;
}

/**
 * Stands for a user name that is no configured user, in log lines and in the recording: people type
 * passwords into the name field, and a name no user has is worth nothing to an auditor but may be
 * a secret (the dashboard's sign-in logs such failures without the name too). It has a space, which
 * no configured name may have.
 */
export const UNKNOWN_USER = '(unknown user)';

/** `text` with every occurrence of an unknown user's `name` replaced by UNKNOWN_USER. */
export function hideUnknownName(text: string, name: string): string {
  return name === '' ? text : text.split(name).join(UNKNOWN_USER);
}

export function recordFailedLogin(recorders: RecorderFactory, login: FailedLogin): void {
  if (!recorders.active) return;
  const hide = (text: string) => (login.userKnown ? text : hideUnknownName(text, login.user));
  const meta: SessionMeta = {
    id: newSessionId(),
    protocol: login.protocol,
    user: hide(login.user),
    roles: login.roles ?? [],
    clientAddr: login.clientAddr,
    clientPort: login.clientPort,
    application: login.application,
    clientTls: login.clientTls,
    target: login.target,
    upstreamDatabase: login.upstreamDatabase ?? '',
    upstreamUser: login.upstreamUser ?? '',
    startedAtUs: Date.now() * 1000,
  };
  const recorder = recorders.open(meta);
  recorder.event({
    kind: 'auth',
    failure: login.failure,
    code: login.code,
    ...(login.errno === undefined ? {} : { errno: login.errno }),
    message: hide(login.message),
  });
  recorder.event({ kind: 'end', reason: 'login_failed' });
}
