/**
 * What a client is told when strict durability refuses its statement, in both protocols: the
 * store's reason, which often carries dbtape's prefix already, said once.
 */
export function notRecordedMessage(err: Error): string {
  const reason = err.message.replace(/^dbtape:\s*/, '');
  return `dbtape: the statement was not run because it could not be recorded: ${reason}`;
}
