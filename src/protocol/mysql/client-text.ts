/**
 * Statement text from a client, for the recording and the policy. Nearly every client sends
 * UTF-8 (utf8mb4, utf8mb3). One whose handshake chose a latin1 collation (the mysql client
 * without a UTF-8 locale, `--default-character-set=latin1`) sends bytes the server reads as
 * latin1, so `café` arrives as 63 61 66 e9: decoded as UTF-8 it would be stored as `caf\uFFFD`,
 * losing the byte and the word search looks for. Valid UTF-8 is taken as UTF-8 whatever the
 * collation said (a terminal that types UTF-8 into a latin1 client: the text the person typed);
 * other bytes are latin1 for such a client, else kept losslessly (wire/text.ts).
 */
import { isUtf8 } from 'node:buffer';
import { decodeWireText } from '../../wire/text.js';

export function clientText(bytes: Buffer, latin1Client: boolean): string {
  if (isUtf8(bytes)) return bytes.toString('utf8');
  return latin1Client ? bytes.toString('latin1') : decodeWireText(bytes);
}
