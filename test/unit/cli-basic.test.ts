/**
 * The CLI as a user runs it: `node bin/dbtape.js ...` on the built output (dist/). The test runner
 * builds first; when running this file alone, run `npm run build` before.
 */
import assert from 'node:assert/strict';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { parseVerifiers } from '../../src/config/verifiers.js';
import { deriveScramKeys } from '../../src/protocol/postgres/scram.js';
import { dbtapeCli } from '../support/dbtape-process.js';

const root = resolve(import.meta.dirname, '../..');
const dir = mkdtempSync(join(tmpdir(), 'dbtape-cli-test-'));
after(() => rmSync(dir, { recursive: true, force: true }));

before(() => {
  if (!existsSync(join(root, 'dist/cli/main.js'))) {
    throw new Error('dist/cli/main.js is missing: run `npm run build` before this test');
  }
});

function dbtape(args: string[], opts: { input?: string; env?: NodeJS.ProcessEnv; cwd?: string } = {}) {
  return dbtapeCli(args, { cwd: opts.cwd ?? dir, env: opts.env, input: opts.input });
}

function checkPassword(line: string, password: string): void {
  const v = parseVerifiers(line);
  const keys = deriveScramKeys(password, v.scramSha256.salt, v.scramSha256.iterations);
  assert.deepEqual(keys.storedKey, v.scramSha256.storedKey, 'the verifier must be for exactly this password');
}

describe('dbtape user hash', () => {
  test('prints one line that parses as verifiers, dropping one trailing newline', async () => {
    const run = await dbtape(['user', 'hash'], { input: 'pencil\n' });
    assert.equal(run.code, 0, run.stderr);
    assert.match(run.stdout, /^SCRAM-SHA-256\$4096:[^\n]+;caching_sha2_password\$[0-9a-f]{64}\n$/);
    checkPassword(run.stdout.trim(), 'pencil');
    assert.ok(!run.stdout.includes('pencil') && !run.stderr.includes('pencil'));
  });

  test('without a trailing newline, and with inner newlines kept', async () => {
    checkPassword((await dbtape(['user', 'hash'], { input: 'pencil' })).stdout.trim(), 'pencil');
    checkPassword(
      (await dbtape(['user', 'hash'], { input: 'two\nlines\n\n' })).stdout.trim(),
      'two\nlines\n',
    );
  });

  test('an empty password is refused', async () => {
    for (const input of ['', '\n']) {
      const run = await dbtape(['user', 'hash'], { input });
      assert.equal(run.code, 1);
      assert.equal(run.stdout, '');
      assert.equal(run.stderr, 'dbtape: empty password refused\n');
    }
  });

  test('--iterations', async () => {
    const run = await dbtape(['user', 'hash', '--iterations', '8192'], { input: 'pencil' });
    assert.equal(parseVerifiers(run.stdout).scramSha256.iterations, 8192);
    assert.equal((await dbtape(['user', 'hash', '--iterations', 'lots'])).code, 2);
  });
});

describe('dbtape check-config', () => {
  const secret = 'very-secret-upstream-pw';

  before(() => {
    writeFileSync(
      join(dir, 'dbtape.yaml'),
      [
        'listen:',
        '  postgres: 127.0.0.1:6432',
        '  http: 127.0.0.1:8080',
        'targets:',
        '  - name: app',
        '    protocol: postgres',
        '    host: 127.0.0.1',
        '    database: appdb',
        '    user: app_rw',
        '    password_env: APP_PG_PASSWORD',
        'users:',
        '  - name: alice',
        '    password: "SCRAM-SHA-256$4096:AAAAAAAAAAAAAAAAAAAAAA==$AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=:AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA="',
        '    roles: [analyst]',
        'roles:',
        '  - name: analyst',
        '    targets: [app]',
        '    access: write',
        '',
      ].join('\n'),
    );
    writeFileSync(
      join(dir, 'bad.yaml'),
      [
        'targets:',
        '  - name: app',
        '    protocol: postgres',
        '    host: h',
        '    user: u',
        `    password: ${secret}`,
        '    port: abc',
        '',
      ].join('\n'),
    );
    writeFileSync(
      join(dir, 'plain.yaml'),
      ['users:', '  - name: bob', `    password: ${secret}`, ''].join('\n'),
    );
  });

  test('a good file: exit 0 and a summary of what dbtape would do, without the password', async () => {
    const run = await dbtape(['check-config'], { env: { APP_PG_PASSWORD: secret } });
    assert.equal(run.code, 0, run.stderr);
    assert.match(run.stdout, /^dbtape\.yaml is valid/);
    assert.match(run.stdout, /listen postgres +127\.0\.0\.1:6432/);
    assert.match(run.stdout, /listen mysql +off/);
    assert.ok(run.stdout.includes('app (postgres) -> app_rw@127.0.0.1:5432/appdb tls=prefer'), run.stdout);
    assert.match(run.stdout, /alice +roles: analyst/);
    assert.match(run.stdout, /reaches app +\(postgres\) +write/);
    assert.ok(!run.stdout.includes(secret) && !run.stderr.includes(secret));
  });

  test('-c FILE, and a bad file: exit 1, each problem with file and key path, no secret', async () => {
    const run = await dbtape(['check-config', '-c', 'bad.yaml']);
    assert.equal(run.code, 1);
    assert.equal(run.stdout, '');
    assert.match(
      run.stderr,
      /^dbtape: bad\.yaml: targets\[0\]\.port: expected a port number 1-65535, got "abc"$/m,
    );
    assert.ok(!run.stderr.includes(secret));
  });

  test('a plaintext user password is refused without being shown', async () => {
    const run = await dbtape(['check-config', '-c', 'plain.yaml']);
    assert.equal(run.code, 1);
    assert.match(run.stderr, /plain\.yaml: users\[0\]\.password: .*dbtape user hash/);
    assert.ok(!run.stderr.includes(secret));
  });

  test('what serve would refuse at start: a postgres:// URL without a database, a key file that is not there', async () => {
    const base = readFileSync(join(dir, 'dbtape.yaml'), 'utf8');
    writeFileSync(
      join(dir, 'store-problems.yaml'),
      `${base}store:\n  url: postgres://rec:${secret}@db.example:5432/\n  encryption_key_file: keys/none.key\n`,
    );
    const run = await dbtape(['check-config', '-c', 'store-problems.yaml'], {
      env: { APP_PG_PASSWORD: 'x' },
    });
    assert.equal(run.code, 1);
    assert.equal(run.stdout, '');
    assert.match(
      run.stderr,
      /^dbtape: store-problems\.yaml: store\.url: store\.url must look like postgres:\/\/user\[:password\]@host\[:port\]\/database \(got "postgres:\/\/rec:\*+@db\.example:5432\/"\)/m,
    );
    assert.match(run.stderr, /^dbtape: store-problems\.yaml: store\.encryption_key_file: .*none\.key/m);
    assert.ok(!run.stderr.includes(secret), "the store URL's password is never shown");

    writeFileSync(join(dir, 'no-record.yaml'), `${base}store:\n  record: false\n  url: postgres://x@h/d\n`);
    const unrecorded = await dbtape(['check-config', '-c', 'no-record.yaml'], {
      env: { APP_PG_PASSWORD: 'x' },
    });
    assert.equal(unrecorded.code, 0, 'without recording serve opens no store');
    // ... and ignores listen.http: no dashboard is described.
    assert.match(unrecorded.stdout, /^listen http +127\.0\.0\.1:8080 +ignored: no dashboard/m);
    assert.doesNotMatch(unrecorded.stdout, /dashboard URL|API tokens/);

    // A PostgreSQL store is accepted; its password is not shown in the summary either.
    writeFileSync(
      join(dir, 'pg-store.yaml'),
      `${base}store:\n  url: postgres://rec:${secret}@db.example:5432/dbtape\n`,
    );
    const pg = await dbtape(['check-config', '-c', 'pg-store.yaml'], { env: { APP_PG_PASSWORD: 'x' } });
    assert.equal(pg.code, 0, pg.stderr);
    assert.match(pg.stdout, /postgres:\/\/rec:\*+@db\.example:5432\/dbtape/);
    assert.ok(!pg.stdout.includes(secret));
    assert.match(pg.stdout, /API tokens +the session store's database \(table api_tokens, hashes only\)\n/);
  });

  test('a SQLite store serve could not create or write is a problem, and check-config creates nothing', async () => {
    const base = readFileSync(join(dir, 'dbtape.yaml'), 'utf8');
    const env = { APP_PG_PASSWORD: 'x' };
    // Under a regular file (mkdir fails with ENOTDIR), and a folder where the store file should be.
    writeFileSync(join(dir, 'not-a-folder'), '');
    writeFileSync(join(dir, 'under-file.yaml'), `${base}store:\n  url: sqlite:not-a-folder/data/x.db\n`);
    const underFile = await dbtape(['check-config', '-c', 'under-file.yaml'], { env });
    assert.equal(underFile.code, 1, underFile.stdout);
    assert.match(
      underFile.stderr,
      /^dbtape: under-file\.yaml: store\.url: cannot write the session store at .*not-a-folder\/data\/x\.db: .*not-a-folder is not a folder$/m,
    );
    writeFileSync(join(dir, 'dir-store.yaml'), `${base}store:\n  url: sqlite:${dir}\n`);
    const dirStore = await dbtape(['check-config', '-c', 'dir-store.yaml'], { env });
    assert.equal(dirStore.code, 1, dirStore.stdout);
    assert.match(dirStore.stderr, /store\.url: cannot write the session store at .* is not a file$/m);

    writeFileSync(join(dir, 'new-store.yaml'), `${base}store:\n  url: sqlite:fresh/deeper/x.db\n`);
    const fresh = await dbtape(['check-config', '-c', 'new-store.yaml'], { env });
    assert.equal(fresh.code, 0, fresh.stderr);
    assert.ok(!existsSync(join(dir, 'fresh')), 'check-config created the store folder');
  });

  test('the http section: public URL, trusted proxies and Host check; bad values name their key', async () => {
    const base = readFileSync(join(dir, 'dbtape.yaml'), 'utf8');
    const env = { APP_PG_PASSWORD: 'x' };
    const plain = await dbtape(['check-config'], { env });
    assert.match(plain.stdout, /dashboard URL +http:\/\/127\.0\.0\.1:8080\n/);
    assert.match(plain.stdout, /trusted proxies +none: clients are known by their socket address/);
    assert.match(plain.stdout, /Host check +on: answers to IP addresses and localhost\n/);
    assert.match(
      plain.stdout,
      /API tokens +\/.*\/data\/dbtape\.db\.tokens\.json \(hashes only, mode 0600\)\n/,
    );

    writeFileSync(
      join(dir, 'proxied.yaml'),
      `${base}http:\n  public_url: https://dbtape.example.com/\n  trusted_proxies: [127.0.0.1, 10.0.0.0/8]\n  allowed_hosts: [dbtape.internal]\n`,
    );
    const proxied = await dbtape(['check-config', '-c', 'proxied.yaml'], { env });
    assert.equal(proxied.code, 0, proxied.stderr);
    assert.match(
      proxied.stdout,
      /dashboard URL +https:\/\/dbtape\.example\.com \(through a proxy; directly http:\/\/127\.0\.0\.1:8080\)/,
    );
    assert.match(
      proxied.stdout,
      /trusted proxies +127\.0\.0\.1, 10\.0\.0\.0\/8: their X-Forwarded-For names the client/,
    );
    assert.match(
      proxied.stdout,
      /Host check +on: answers to IP addresses and localhost, dbtape\.example\.com, dbtape\.internal/,
    );

    writeFileSync(
      join(dir, 'forwarded.yaml'),
      `${base}http:\n  trusted_proxies: [10.0.0.0/8]\n  forwarded_header: Forwarded\n`,
    );
    const forwarded = await dbtape(['check-config', '-c', 'forwarded.yaml'], { env });
    assert.equal(forwarded.code, 0, forwarded.stderr);
    assert.match(
      forwarded.stdout,
      /trusted proxies +10\.0\.0\.0\/8: their Forwarded header \(for=\) names the client/,
    );
    writeFileSync(join(dir, 'forwarded-alone.yaml'), `${base}http:\n  forwarded_header: forwarded\n`);
    const alone = await dbtape(['check-config', '-c', 'forwarded-alone.yaml'], { env });
    assert.match(alone.stdout, /- http\.forwarded_header is set but http\.trusted_proxies is empty/);

    writeFileSync(
      join(dir, 'open.yaml'),
      `${base.replace('http: 127.0.0.1:8080', 'http: 0.0.0.0:8080')}http:\n  public_url: https://dbtape.example.com\n  trusted_proxies: [0.0.0.0/0]\n`,
    );
    const open = await dbtape(['check-config', '-c', 'open.yaml'], { env });
    assert.equal(open.code, 0, open.stderr);
    assert.match(open.stdout, /Host check +on: answers to IP addresses and localhost, dbtape\.example\.com/);
    assert.match(open.stdout, /- http\.trusted_proxies trusts every address/);
    writeFileSync(join(dir, 'wildcard.yaml'), base.replace('http: 127.0.0.1:8080', 'http: 0.0.0.0:8080'));
    const wildcard = await dbtape(['check-config', '-c', 'wildcard.yaml'], { env });
    assert.match(wildcard.stdout, /Host check +off: any Host is answered/);
    writeFileSync(join(dir, 'no-proxy.yaml'), `${base}http:\n  public_url: https://dbtape.example.com\n`);
    const noProxy = await dbtape(['check-config', '-c', 'no-proxy.yaml'], { env });
    assert.match(noProxy.stdout, /- http\.public_url is https but http\.trusted_proxies is empty/);

    writeFileSync(
      join(dir, 'bad-http.yaml'),
      `${base}http:\n  public_url: https://dbtape.example.com/dbtape\n  trusted_proxies: [proxy.internal]\n  allowed_hosts: ["dbtape:8080"]\n`,
    );
    const bad = await dbtape(['check-config', '-c', 'bad-http.yaml'], { env });
    assert.equal(bad.code, 1);
    assert.equal(bad.stdout, '');
    assert.match(
      bad.stderr,
      /^dbtape: bad-http\.yaml: http\.public_url: expected only a scheme, host and optional port/m,
    );
    assert.match(
      bad.stderr,
      /^dbtape: bad-http\.yaml: http\.trusted_proxies\[0\]: expected an IP address or CIDR range/m,
    );
    assert.match(bad.stderr, /^dbtape: bad-http\.yaml: http\.allowed_hosts\[0\]: expected a host name/m);
  });

  test('an unset password_env is a config error', async () => {
    const run = await dbtape(['check-config']);
    assert.equal(run.code, 1);
    assert.match(
      run.stderr,
      /dbtape\.yaml: targets\[0\]\.password_env: environment variable APP_PG_PASSWORD is not set/,
    );
  });

  test('a missing file', async () => {
    const run = await dbtape(['check-config', '-c', 'missing.yaml']);
    assert.equal(run.code, 1);
    assert.match(run.stderr, /^dbtape: missing\.yaml: no such file/);
  });
});

describe('dbtape usage', () => {
  test('an unknown command or option exits 2', async () => {
    assert.equal((await dbtape(['no-such-command'])).code, 2);
    assert.equal((await dbtape(['check-config', '--no-such-option'])).code, 2);
  });

  test('--help and --version exit 0', async () => {
    const help = await dbtape(['--help']);
    assert.equal(help.code, 0);
    assert.match(help.stdout, /Usage: dbtape/);
    const version = await dbtape(['--version']);
    assert.equal(version.code, 0);
    assert.match(version.stdout, /^\d+\.\d+\.\d+/);
  });
});
