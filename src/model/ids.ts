import { randomBytes } from 'node:crypto';

/**
 * Session ids sort by creation time (base-36 milliseconds, fixed width) and end with
 * random bits, so they are unique across restarts and processes without coordination.
 */
export function newSessionId(nowMs = Date.now()): string {
  return `${nowMs.toString(36).padStart(9, '0')}-${randomBytes(5).toString('hex')}`;
}
