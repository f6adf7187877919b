import { rmSync } from 'node:fs';

/**
 * Last-resort clean-up of throwaway servers and temp folders when a test process ends without calling
 * stop(): on normal exit, on an uncaught error, and on SIGINT/SIGTERM (node's test runner sends SIGTERM
 * to a file that times out). Handlers must be synchronous: they run inside 'exit'.
 */
type Handler = () => void;

const handlers = new Set<Handler>();
let installed = false;

/** Registers a synchronous clean-up; returns a function that unregisters it. */
export function onExit(handler: Handler): () => void {
  install();
  handlers.add(handler);
  return () => handlers.delete(handler);
}

/** Removes a temp folder at exit unless removed before; returns the unregister function. */
export function removeAtExit(dir: string): () => void {
  return onExit(() => rmSync(dir, { recursive: true, force: true, maxRetries: 3 }));
}

function runAll(): void {
  for (const handler of [...handlers].reverse()) {
    handlers.delete(handler);
    try {
      handler();
    } catch {
      // Best effort: the process is ending and one failed clean-up must not stop the others.
    }
  }
}

function install(): void {
  if (installed) return;
  installed = true;
  process.on('exit', runAll);
  for (const signal of ['SIGINT', 'SIGTERM', 'SIGHUP'] as const) {
    process.once(signal, () => {
      runAll();
      process.exit(128 + (signal === 'SIGINT' ? 2 : signal === 'SIGTERM' ? 15 : 1));
    });
  }
}
