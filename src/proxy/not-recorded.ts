/**
 * What a client is told when strict durability refuses its statement, in both protocols: the
 * recorder's reason, without the prefix and the "not recorded" it already carries, so that
 * neither is said twice.
 */
export function notRecordedMessage(err: Error): string {
  const reason = err.message.replace(/^dbtape:\s*/, '').replace(/;\s*the statement was not recorded$/, '');
  return `dbtape: the statement was not run because it could not be recorded: ${reason}`;
}
