/** users[] and roles[]: who may sign in to dbtape, and which targets each role reaches. */
import type { Role, Target, User } from '../model/identity.js';
import type { IssueList } from './errors.js';
import type { RawConfig } from './schema.js';
import { parseVerifiers, VerifierError } from './verifiers.js';

/** Dashboard/API roles that need no definition (SPEC.md, "Config file"). */
export const RESERVED_ROLES: readonly string[] = ['auditor', 'admin'];

export function resolveRoles(issues: IssueList, raw: RawConfig['roles'], targets: readonly Target[]): Role[] {
  const targetNames = new Set(targets.map((t) => t.name));
  const seen = new Map<string, number>();
  return raw.map((r, i) => {
    const first = seen.get(r.name);
    if (first !== undefined)
      issues.add(['roles', i, 'name'], `duplicate role name "${r.name}" (see roles[${first}])`);
    else seen.set(r.name, i);
    r.targets.forEach((t, j) => {
      if (!targetNames.has(t))
        issues.add(['roles', i, 'targets', j], `unknown target "${t}"${known(targetNames)}`);
    });
    const role: Role = { name: r.name, targets: [...new Set(r.targets)], access: r.access };
    return r.local_infile ? { ...role, localInfile: true } : role;
  });
}

export function resolveUsers(issues: IssueList, raw: RawConfig['users'], roles: readonly Role[]): User[] {
  const roleNames = new Set([...roles.map((r) => r.name), ...RESERVED_ROLES]);
  const seen = new Map<string, number>();
  const users: User[] = [];
  raw.forEach((u, i) => {
    const first = seen.get(u.name);
    if (first !== undefined)
      issues.add(['users', i, 'name'], `duplicate user name "${u.name}" (see users[${first}])`);
    else seen.set(u.name, i);
    u.roles.forEach((r, j) => {
      if (!roleNames.has(r)) issues.add(['users', i, 'roles', j], `unknown role "${r}"${known(roleNames)}`);
    });
    const verifiers = userVerifiers(issues, u.password, i);
    if (verifiers) users.push({ name: u.name, verifiers, roles: [...new Set(u.roles)] });
  });
  return users;
}

/** Error messages here must never contain the value: it may be a plaintext password. */
function userVerifiers(issues: IssueList, value: string, i: number): User['verifiers'] | null {
  try {
    return parseVerifiers(value);
  } catch (err) {
    if (!(err instanceof VerifierError)) throw err;
    const looksLikeVerifier = value.trim().startsWith('SCRAM-SHA-256$');
    issues.add(
      ['users', i, 'password'],
      looksLikeVerifier
        ? `malformed verifier (${err.message}); make a new one with \`dbtape user hash\``
        : 'must be a verifier made by `dbtape user hash`, never a plaintext password ' +
            '(run `dbtape user hash`, type the password, and paste the line it prints; the value is not shown)',
    );
    return null;
  }
}

function known(names: ReadonlySet<string>): string {
  return names.size > 0 ? ` (known: ${[...names].join(', ')})` : ' (none are defined)';
}
