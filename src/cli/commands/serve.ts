import type { Command } from 'commander';
import { loadConfig } from '../../config/load.js';
import { createLogger } from '../logger.js';

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
      let stopping = false;
      const stop = (signal: string): void => {
        if (stopping) return;
        stopping = true;
        log.info({ signal }, 'shutting down');
        server.close().then(
          () => process.exit(0),
          () => process.exit(1),
        );
        setTimeout(() => process.exit(0), 5000).unref();
      };
      process.on('SIGTERM', () => stop('SIGTERM'));
      process.on('SIGINT', () => stop('SIGINT'));
    });
}
