import type { AccessLevel, Role, Target, User } from '../model/identity.js';

/** What a user may do on one target, once their roles are combined. */
export interface Grant {
  readonly target: Target;
  /** The strongest access any of the user's roles gives on this target. */
  readonly access: AccessLevel;
  /** The roles that grant it. */
  readonly roles: readonly string[];
}

const RANK: Record<AccessLevel, number> = { read: 0, write: 1, admin: 2 };

/**
 * Decide whether `user` may reach `targetName`. Returns null both for an unknown target
 * and for one the user may not use, so callers cannot tell them apart (no probing).
 */
export function grantFor(
  user: User,
  targetName: string,
  targets: readonly Target[],
  roles: readonly Role[],
): Grant | null {
  const target = targets.find((t) => t.name === targetName);
  if (!target) return null;
  let access: AccessLevel | null = null;
  const granting: string[] = [];
  for (const roleName of user.roles) {
    const role = roles.find((r) => r.name === roleName);
    if (!role?.targets.includes(target.name)) continue;
    granting.push(role.name);
    if (access === null || RANK[role.access] > RANK[access]) access = role.access;
  }
  return access === null ? null : { target, access, roles: granting };
}

/** Every target a user may reach, for `check-config` and the dashboard. */
export function grantsOf(user: User, targets: readonly Target[], roles: readonly Role[]): Grant[] {
  return targets.map((t) => grantFor(user, t.name, targets, roles)).filter((g): g is Grant => g !== null);
}
