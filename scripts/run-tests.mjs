#!/usr/bin/env node
// `npm test`: build, make sure PostgreSQL (127.0.0.1:5432) and MariaDB (127.0.0.1:3306) answer, run the
// test files with node's test runner, and exit with its status.
//
//   npm test                                  every test/{unit,integration,e2e}/*.test.ts
//   npm test -- test/unit/foo.test.ts ...     chosen files (flags such as --test-name-pattern=x pass on)
//   npm test -- --no-build ...                skip `npm run build`
//
// Where no server answers on a standard port, a throwaway one is started from the installed binaries in
// a temp folder and stopped at the end. Where the binaries are missing we fail at once, naming the
// Debian packages: a test never skips silently because a server is absent.
import { spawn, spawnSync } from 'node:child_process';
import {
  accessSync,
  constants,
  existsSync,
  mkdirSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  rmSync,
} from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const TEST_DIRS = ['test/unit', 'test/integration', 'test/e2e'];
// One file per run: engineers may run `npm test` side by side in one checkout.
const TAP_FILE = path.join(ROOT, 'test-results', `tap-${process.pid}.txt`);
const PG_PORT = 5432;
const MARIADB_PORT = 3306;

const cleanups = [];
/** node's closing TAP lines, printed after the servers are stopped so that they end the output. */
let summary = [];

main().then(
  (code) => finish(code),
  (err) => {
    console.error(`run-tests: ${err instanceof Error ? err.message : String(err)}`);
    finish(1);
  },
);

async function main() {
  const args = process.argv.slice(2);
  const build = !args.includes('--no-build');
  const flags = args.filter((a) => a.startsWith('-') && a !== '--no-build');
  const files = args.filter((a) => !a.startsWith('-'));
  const testFiles = files.length > 0 ? checkFiles(files) : collectTestFiles();
  if (testFiles.length === 0) {
    console.error(`run-tests: no test files found in ${TEST_DIRS.join(', ')}`);
    return 1;
  }
  if (build) {
    const built = spawnSync('npm', ['run', 'build'], { cwd: ROOT, stdio: 'inherit' });
    if (built.status !== 0) return built.status ?? 1;
  }
  if (testFiles.some((f) => !f.startsWith(`test${path.sep}unit${path.sep}`))) await ensureServers();
  return runTests(testFiles, flags);
}

function collectTestFiles() {
  return TEST_DIRS.flatMap((dir) => {
    const abs = path.join(ROOT, dir);
    if (!existsSync(abs)) return [];
    return readdirSync(abs)
      .filter((name) => /\.test\.(ts|mts|js|mjs)$/.test(name))
      .sort()
      .map((name) => path.join(dir, name));
  });
}

/** Files named on the command line, relative to where `npm test` was typed (npm's INIT_CWD). */
function checkFiles(files) {
  const base = process.env.INIT_CWD ?? process.cwd();
  for (const file of files) {
    if (!existsSync(path.resolve(base, file))) throw new Error(`no such test file: ${file}`);
  }
  return files.map((f) => path.relative(ROOT, path.resolve(base, f)));
}

// --- the test runner -------------------------------------------------------------------------------

async function runTests(files, flags) {
  mkdirSync(path.dirname(TAP_FILE), { recursive: true });
  rmSync(TAP_FILE, { force: true });
  const nodeArgs = [
    '--import',
    'tsx',
    '--test',
    '--test-concurrency=2',
    // Node 20 applies this to each file as a whole too: the crash proof and fault files need minutes on a loaded machine.
    '--test-timeout=300000',
    // Readable output on the terminal; TAP to a file, whose closing summary we print last for CI.
    '--test-reporter=spec',
    '--test-reporter-destination=stdout',
    '--test-reporter=tap',
    `--test-reporter-destination=${TAP_FILE}`,
    ...flags,
    ...files,
  ];
  console.log(`run-tests: ${files.length} test file(s)`);
  const child = spawn(process.execPath, nodeArgs, { cwd: ROOT, stdio: 'inherit' });
  const forward = (signal) => child.kill(signal);
  process.on('SIGINT', forward);
  process.on('SIGTERM', forward);
  const [code, signal] = await new Promise((resolve) => child.on('exit', (c, s) => resolve([c, s])));
  process.off('SIGINT', forward);
  process.off('SIGTERM', forward);
  summary = tapSummary();
  if (signal) return 1;
  if (code === 0 && summary.some((l) => /^# tests 0$/.test(l))) {
    console.error('run-tests: the test files ran no test');
    return 1;
  }
  return code ?? 1;
}

/** node's own closing TAP lines: `# tests N`, `# suites N`, `# pass N`, `# fail N`, ... */
function tapSummary() {
  if (!existsSync(TAP_FILE)) return [];
  const lines = readFileSync(TAP_FILE, 'utf8').trimEnd().split('\n');
  rmSync(TAP_FILE, { force: true });
  const closing = [];
  for (let i = lines.length - 1; i >= 0 && /^# \w+ [\d.]+$/.test(lines[i]); i--) closing.unshift(lines[i]);
  return closing;
}

// --- servers ---------------------------------------------------------------------------------------

async function ensureServers() {
  const pgUp = await isPortOpen('127.0.0.1', PG_PORT);
  const mariaUp = await isPortOpen('127.0.0.1', MARIADB_PORT);
  // Check every binary first so that a machine missing both packages learns it in one message.
  const pgBins = pgUp ? null : findPgBinaries();
  const mariaBins = mariaUp ? null : findMariaDbBinaries();
  const missing = [...(pgBins?.missing ?? []), ...(mariaBins?.missing ?? [])];
  if (missing.length > 0) {
    const packages = [...new Set(missing.map((m) => m.pkg))];
    throw new Error(
      `no server answers and these programs are missing: ${missing.map((m) => m.name).join(', ')}.\n` +
        `Install them with: apt-get install -y ${packages.join(' ')}`,
    );
  }
  console.log(
    `run-tests: PostgreSQL on 127.0.0.1:${PG_PORT}: ${pgUp ? 'answering' : 'starting a throwaway one'}`,
  );
  if (pgBins) await startThrowawayPg(pgBins);
  console.log(
    `run-tests: MariaDB on 127.0.0.1:${MARIADB_PORT}: ${mariaUp ? 'answering' : 'starting a throwaway one'}`,
  );
  if (mariaBins) await startThrowawayMariaDb(mariaBins);
}

function findPgBinaries() {
  const lib = '/usr/lib/postgresql';
  const versions = existsSync(lib) ? readdirSync(lib).filter((v) => /^\d+$/.test(v)) : [];
  const dirs = versions.sort((a, b) => Number(b) - Number(a)).map((v) => path.join(lib, v, 'bin'));
  return findAll(
    [
      ['initdb', 'postgresql'],
      ['pg_ctl', 'postgresql'],
      ['psql', 'postgresql-client'],
    ],
    dirs,
  );
}

function findMariaDbBinaries() {
  return findAll(
    [
      ['mariadb-install-db', 'mariadb-server'],
      ['mariadbd', 'mariadb-server'],
      ['mariadb', 'mariadb-client'],
    ],
    [],
  );
}

function findAll(wanted, extraDirs) {
  const dirs = [...extraDirs, ...(process.env.PATH ?? '').split(':'), '/usr/sbin', '/usr/local/sbin'];
  const found = {};
  const missing = [];
  for (const [name, pkg] of wanted) {
    const hit = dirs.map((d) => path.join(d, name)).find(isExecutable);
    if (hit) found[name] = hit;
    else missing.push({ name, pkg });
  }
  return { ...found, missing };
}

async function startThrowawayPg(bins) {
  const user = serverUser('postgres');
  const dir = tempDirFor('pg', user);
  const data = path.join(dir, 'data');
  const as = spawnAs(user);
  runSync(bins.initdb, ['-D', data, '-A', 'trust', '-U', 'root', '-E', 'UTF8', '--no-sync'], {
    cwd: dir,
    ...as,
  });
  const options = `-p ${PG_PORT} -k ${dir} -c listen_addresses=127.0.0.1 -c fsync=off`;
  const log = path.join(dir, 'server.log');
  runSync(bins.pg_ctl, ['-D', data, '-l', log, '-o', options, '-w', '-t', '60', 'start'], {
    cwd: dir,
    ...as,
  });
  cleanups.push(() => {
    console.log('run-tests: stopping the throwaway PostgreSQL');
    spawnSync(bins.pg_ctl, ['-D', data, '-m', 'fast', '-w', 'stop'], { cwd: dir, stdio: 'ignore', ...as });
    rmSync(dir, { recursive: true, force: true });
  });
  // As on the machine's server: superusers root and postgres, databases test, root and postgres.
  const sql = 'CREATE ROLE postgres SUPERUSER LOGIN;\nCREATE DATABASE test;\nCREATE DATABASE root;\n';
  runSync(
    bins.psql,
    ['-X', '-q', '-h', dir, '-p', String(PG_PORT), '-U', 'root', '-d', 'postgres', '-f', '-'],
    {
      input: sql,
    },
  );
}

async function startThrowawayMariaDb(bins) {
  const user = serverUser('mysql');
  const dir = tempDirFor('mariadb', user);
  const data = path.join(dir, 'data');
  const socket = path.join(dir, 'mariadbd.sock');
  const as = spawnAs(user);
  const install = [
    '--no-defaults',
    `--datadir=${data}`,
    '--auth-root-authentication-method=normal',
    '--skip-test-db',
  ];
  runSync(bins['mariadb-install-db'], install, { cwd: dir, ...as });
  const args = [
    '--no-defaults',
    `--datadir=${data}`,
    `--socket=${socket}`,
    `--pid-file=${path.join(dir, 'mariadbd.pid')}`,
    `--port=${MARIADB_PORT}`,
    '--bind-address=127.0.0.1',
    '--skip-networking=0',
    `--log-error=${path.join(dir, 'server.log')}`,
  ];
  const server = spawn(bins.mariadbd, args, { cwd: dir, stdio: 'ignore', ...as });
  const exited = new Promise((resolve) => server.on('exit', resolve));
  cleanups.push(async () => {
    console.log('run-tests: stopping the throwaway MariaDB');
    server.kill('SIGTERM');
    const timer = setTimeout(() => server.kill('SIGKILL'), 30_000);
    await exited;
    clearTimeout(timer);
    rmSync(dir, { recursive: true, force: true });
  });
  await waitForPort('127.0.0.1', MARIADB_PORT, 60_000, exited, path.join(dir, 'server.log'));
  // As on the machine's server: root without a password over TCP, and a `test` database.
  const sql =
    "CREATE USER IF NOT EXISTS 'root'@'127.0.0.1' IDENTIFIED BY '';\n" +
    "GRANT ALL ON *.* TO 'root'@'127.0.0.1' WITH GRANT OPTION;\nCREATE DATABASE IF NOT EXISTS test;\n";
  runSync(bins.mariadb, ['--no-defaults', `--socket=${socket}`, '-uroot'], { input: sql });
}

// --- small helpers ---------------------------------------------------------------------------------

function isPortOpen(host, port) {
  return new Promise((resolve) => {
    const socket = net.connect({ host, port });
    const done = (open) => {
      socket.destroy();
      resolve(open);
    };
    socket.setTimeout(1000, () => done(false));
    socket.once('connect', () => done(true));
    socket.once('error', () => done(false));
  });
}

async function waitForPort(host, port, timeoutMs, exited, logFile) {
  let gone = false;
  exited.then(() => {
    gone = true;
  });
  const deadline = Date.now() + timeoutMs;
  while (!(await isPortOpen(host, port))) {
    if (gone || Date.now() > deadline) {
      const log = existsSync(logFile) ? readFileSync(logFile, 'utf8').split('\n').slice(-20).join('\n') : '';
      throw new Error(`the throwaway server did not listen on ${host}:${port}:\n${log}`);
    }
    // Poll interval while waiting for the listener, not a wait for the event itself.
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
}

/** PostgreSQL refuses to run as root: when we are root, servers run as their Debian account. */
function serverUser(name) {
  if (process.getuid?.() !== 0) return null;
  const line = readFileSync('/etc/passwd', 'utf8')
    .split('\n')
    .find((l) => l.startsWith(`${name}:`));
  if (!line) throw new Error(`the OS user '${name}' is missing; reinstall the Debian server package`);
  const [, , uid, gid] = line.split(':');
  return { uid: Number(uid), gid: Number(gid) };
}

function spawnAs(user) {
  return user ? { uid: user.uid, gid: user.gid } : {};
}

function tempDirFor(kind, user) {
  const dir = mkdtempSync(path.join(os.tmpdir(), `dbtape-ci-${kind}-`));
  if (user) runSync('chown', [`${user.uid}:${user.gid}`, dir]);
  return dir;
}

function runSync(command, args, opts = {}) {
  const result = spawnSync(command, args, { encoding: 'utf8', stdio: 'pipe', ...opts });
  if (result.status !== 0) {
    const why = result.error?.message ?? `exit code ${result.status}`;
    throw new Error(`${command} ${args.join(' ')} failed (${why}):\n${result.stderr}${result.stdout}`);
  }
  return result.stdout;
}

function isExecutable(file) {
  try {
    accessSync(file, constants.X_OK);
    return true;
  } catch {
    return false;
  }
}

let finishing = false;
async function finish(code) {
  if (finishing) return;
  finishing = true;
  for (const cleanup of cleanups.reverse()) {
    try {
      await cleanup();
    } catch (err) {
      console.error(`run-tests: clean-up failed: ${err instanceof Error ? err.message : String(err)}`);
    }
  }
  if (summary.length > 0) console.log(`\n${summary.join('\n')}`);
  process.exit(code);
}

// Ctrl-C or a CI timeout while servers are being started: still stop what we started.
for (const signal of ['SIGINT', 'SIGTERM']) {
  process.on(signal, () => {
    if (process.listenerCount(signal) === 1) finish(130);
  });
}
