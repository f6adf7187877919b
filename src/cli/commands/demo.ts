import { type Command, InvalidArgumentError, Option } from 'commander';

export function registerDemo(program: Command): void {
  program
    .command('demo')
    .description(
      'run the proxy on an embedded PostgreSQL (PGlite) with sample data, a demo user and a sample ' +
        'session; no config file or database server needed',
    )
    .option(
      '--ports-from <n>',
      'move the ports: PostgreSQL on N, MySQL on N+1, dashboard on N+2 (default 6432, -, 8080)',
      parsePortBase,
    )
    .option('--dir <folder>', 'folder for the session store and the certificate', '.dbtape-demo')
    .addOption(
      new Option('--log-level <level>', 'log lines (JSON, on stderr) from this level up')
        .choices(['debug', 'info', 'warn', 'error'])
        .default('warn'),
    )
    .option('--no-sample', 'do not run the scripted sample session at start')
    .action(
      async (opts: {
        portsFrom?: number;
        dir: string;
        logLevel: 'debug' | 'info' | 'warn' | 'error';
        sample: boolean;
      }) => {
        // Loaded on demand: PGlite and the proxy are heavy, and other commands never need them.
        const { runDemo } = await import('../demo/run.js');
        await runDemo({
          dir: opts.dir,
          portsFrom: opts.portsFrom ?? null,
          logLevel: opts.logLevel,
          sample: opts.sample,
        });
      },
    );
}

/** N must leave room for N+2 (the dashboard). */
function parsePortBase(value: string): number {
  const n = Number(value);
  if (!/^\d+$/.test(value) || n < 1 || n > 65533) {
    throw new InvalidArgumentError('expected a port number from 1 to 65533 (N+2 must be a port too)');
  }
  return n;
}
