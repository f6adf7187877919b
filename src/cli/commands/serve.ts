import type { Command } from 'commander';
import { loadConfig } from '../../config/load.js';
import { createLogger } from '../logger.js';
import { shutdownHandler } from '../shutdown.js';

/** How long a shutdown may take to end sessions and write their recordings before giving up. */
const SHUTDOWN_LIMIT_MS = 5000;

export function registerServe(program: Command): void {
  program
    .command('serve')
    .description('run the proxy, the session store and the dashboard per the config file')
    .option('-c, --config <file>', 'config file', 'dbtape.yaml')
    .action(async (opts: { config: string }) => {
      const config = loadConfig(opts.config);
      const log = createLogger(config.log.level);
      // Loaded on demand so that light commands (user hash, check-config) do not load the proxy.
      const { startServer } = await import('../server.js');
      const server = await startServer(config, log);
      const stop = shutdownHandler(
        { close: () => server.close(), queuedEvents: () => server.recorder?.stats().queueDepth ?? 0 },
        log,
        { limitMs: SHUTDOWN_LIMIT_MS, exit: (code) => process.exit(code) },
      );
      process.on('SIGTERM', () => stop('SIGTERM'));
      process.on('SIGINT', () => stop('SIGINT'));
    });
}
