/**
 * MD5 password authentication (protocol docs, AuthenticationMD5Password): the client answers
 * 'md5' + md5hex(md5hex(password + user) + salt). Used only towards upstream servers that still
 * ask for it; dbtape never offers md5 to its own clients.
 */
import { createHash } from 'node:crypto';

/** The PasswordMessage payload for an md5 challenge, without the trailing NUL. */
export function md5Response(user: string, password: string, salt: Buffer): Buffer {
  const inner = createHash('md5').update(password, 'utf8').update(user, 'utf8').digest('hex');
  const outer = createHash('md5').update(inner, 'latin1').update(salt).digest('hex');
  return Buffer.from(`md5${outer}`, 'latin1');
}
