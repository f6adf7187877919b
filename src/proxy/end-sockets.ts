/** What endSockets needs of a socket: its SocketWriter does it. */
export interface EndableSocket {
  /** Bytes written but not yet taken by the kernel. */
  readonly pending: number;
  readonly destroyed: boolean;
  end(): void;
  destroy(): void;
}

/** How often a finished session's client is checked for progress, and how long it may take in all. */
const STEP_MS = 1000;
const MAX_MS = 10_000;

/**
 * Ends a finished session's two sockets, then destroys them so nothing lingers. The client first
 * gets to read what it was sent: while bytes still wait in its socket's buffer and their count goes
 * down (a slow reader, or a reader on a loaded machine), it gets another second, up to 10 s in all.
 * A client that stops reading, or a peer that keeps its half of the connection open, is cut after a
 * second. (A fixed second cut a slow reader's last row once, under load.)
 */
export function endSockets(client: EndableSocket, upstream: EndableSocket): void {
  client.end();
  upstream.end();
  let pending = client.pending;
  let waited = 0;
  const timer = setInterval(() => {
    waited += STEP_MS;
    const now = client.pending;
    if (!client.destroyed && now > 0 && now < pending && waited < MAX_MS) {
      pending = now;
      return;
    }
    clearInterval(timer);
    client.destroy();
    upstream.destroy();
  }, STEP_MS);
  timer.unref();
}
