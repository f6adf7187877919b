/**
 * Every error dbtape raises itself starts with `dbtape:` (SPEC.md). Messages that keep a server's
 * wording, such as a failed login's, keep it after the prefix, so tools that look for "password
 * authentication failed" or "Access denied for user" still find it.
 */
export function dbtapeMessage(message: string): string {
  return message.startsWith('dbtape:') ? message : `dbtape: ${message}`;
}
