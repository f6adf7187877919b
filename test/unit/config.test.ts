// biome-ignore-all lint/suspicious/noTemplateCurlyInString: the ${VAR} syntax is under test
import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, test } from 'node:test';
import { ConfigError, formatKeyPath, loadConfig, parseConfigText } from '../../src/config/load.js';
import type { Config } from '../../src/config/types.js';
import { hashPassword } from '../../src/config/verifiers.js';

const dir = mkdtempSync(join(tmpdir(), 'dbtape-config-test-'));
after(() => rmSync(dir, { recursive: true, force: true }));

const VERIFIER = hashPassword('pencil', { iterations: 16 });

function write(name: string, content: string): string {
  const path = join(dir, name);
  mkdirSync(join(path, '..'), { recursive: true });
  writeFileSync(path, content);
  return path;
}

/** Parse as if from `<dir>/dbtape.yaml`, so messages start with "dbtape.yaml:". */
function parse(yaml: string, env: NodeJS.ProcessEnv = {}): Config {
  return parseConfigText(yaml, { file: 'dbtape.yaml', baseDir: dir, env });
}

/** The ConfigError a config gives; fails if it loads. */
function errorOf(yaml: string, env: NodeJS.ProcessEnv = {}): ConfigError {
  try {
    parse(yaml, env);
  } catch (err) {
    assert.ok(err instanceof ConfigError, `expected ConfigError, got ${err}`);
    assert.equal(err.code, 'DBTAPE_CONFIG');
    for (const line of err.message.split('\n')) assert.match(line, /^dbtape\.yaml: /);
    return err;
  }
  assert.fail('the config loaded, but an error was expected');
}

const TARGET = `
targets:
  - name: app
    protocol: postgres
    host: 127.0.0.1
    user: app_rw
`;

describe('defaults', () => {
  test('an almost empty file gets every default', () => {
    const c = parse(TARGET);
    assert.deepEqual(c.listen, {
      postgres: { host: '127.0.0.1', port: 6432 },
      mysql: null,
      http: { host: '127.0.0.1', port: 8080 },
    });
    assert.deepEqual(c.tls, { certFile: null, keyFile: null, require: false });
    assert.deepEqual(c.store, {
      record: true,
      url: `sqlite:${join(dir, 'data/dbtape.db')}`,
      durability: 'fast',
      captureResults: 'summary',
      maxRows: 100,
      encryptionKeyFile: null,
      signingKeyFile: null,
      checkpointIntervalMs: 60_000,
    });
    assert.deepEqual(c.limits, {
      maxClientConnections: 1000,
      authTimeoutMs: 10_000,
      maxMessageSize: 256 * 1024 * 1024,
      connectTimeoutMs: 10_000,
    });
    assert.equal(c.log.level, 'info');
    assert.deepEqual(c.targets[0], {
      name: 'app',
      protocol: 'postgres',
      host: '127.0.0.1',
      port: 5432,
      database: 'app',
      user: 'app_rw',
      password: null,
      tls: 'prefer',
      caFile: null,
      channelBinding: 'prefer',
    });
    assert.equal(c.source, join(dir, 'dbtape.yaml'));
  });

  test('a MySQL target defaults to port 3306', () => {
    assert.equal(parse(TARGET.replace('postgres', 'mysql')).targets[0].port, 3306);
  });

  test('an empty file is valid', () => {
    assert.deepEqual(parse('').targets, []);
  });

  test('only the listeners given are enabled', () => {
    const c = parse('listen:\n  mysql: "[::1]:3307"\n');
    assert.deepEqual(c.listen, { postgres: null, mysql: { host: '::1', port: 3307 }, http: null });
  });

  test('a listen key with no listener in it is an error', () => {
    assert.match(errorOf('listen:\n').message, /^dbtape\.yaml: listen: no listener is enabled/);
  });

  test('durations, sizes and numbers in their forms', () => {
    const c = parse(
      'limits:\n  auth_timeout: 500ms\n  connect_timeout: 2\n  max_message_size: 64MB\n  max_client_connections: "50"\n',
    );
    assert.equal(c.limits.authTimeoutMs, 500);
    assert.equal(c.limits.connectTimeoutMs, 2000);
    assert.equal(c.limits.maxMessageSize, 64 * 1024 * 1024);
    assert.equal(c.limits.maxClientConnections, 50);
    assert.equal(
      parse('limits:\n  max_message_size: 1GiB\n  auth_timeout: 1m\n').limits.authTimeoutMs,
      60_000,
    );
  });
});

describe('error messages name the file, the key path and the problem', () => {
  test('a bad port, in the documented form', () => {
    const err = errorOf(
      `${TARGET}  - name: b\n    protocol: postgres\n    host: h\n    user: u\n    port: abc\n`,
    );
    assert.equal(err.message, 'dbtape.yaml: targets[1].port: expected a port number 1-65535, got "abc"');
    assert.equal(err.keyPath, 'targets[1].port');
    assert.equal(err.file, 'dbtape.yaml');
  });

  test('loadConfig names the file as given', () => {
    const file = write('bad.yaml', 'listen:\n  postgres: nowhere\n');
    assert.throws(
      () => loadConfig(file, {}),
      (err: Error) => err.message.startsWith(`${file}: listen.postgres: `),
    );
  });

  test('a missing file', () => {
    assert.throws(() => loadConfig(join(dir, 'nope.yaml')), /nope\.yaml: no such file/);
  });

  test('a YAML syntax error gives the line', () => {
    assert.match(
      errorOf('targets:\n  - name: [unclosed\n').message,
      /^dbtape\.yaml: line \d+, column \d+: YAML syntax error/,
    );
  });

  test('a top level that is not a mapping', () => {
    assert.match(errorOf('- a\n- b\n').message, /expected a mapping/);
  });

  test('a missing required key', () => {
    assert.equal(
      errorOf('targets:\n  - name: app\n    protocol: postgres\n    user: u\n').message,
      'dbtape.yaml: targets[0].host: is required',
    );
  });

  test('a wrong type', () => {
    assert.equal(errorOf('targets: 3\n').message, 'dbtape.yaml: targets: expected a list, got a number');
  });

  test('an unknown enum value', () => {
    assert.equal(
      errorOf('store:\n  durability: quick\n').message,
      'dbtape.yaml: store.durability: expected one of fast | strict, got "quick"',
    );
  });

  test('an unknown key, with a suggestion', () => {
    assert.ok(
      errorOf(TARGET.replace('host:', 'hots:'))
        .message.split('\n')
        .includes('dbtape.yaml: targets[0].hots: unknown key (did you mean "host"?)'),
    );
    assert.equal(errorOf('lsten: {}\n').message, 'dbtape.yaml: lsten: unknown key (did you mean "listen"?)');
    assert.match(
      errorOf('store:\n  zzzzzz: 1\n').message,
      /^dbtape\.yaml: store\.zzzzzz: unknown key \(known keys: url, /,
    );
  });

  test('every problem is reported at once', () => {
    const err = errorOf(
      'users:\n  - name: a\n    password: x\n    roles: [nope]\nroles:\n  - name: r\n    targets: [t]\n',
    );
    assert.equal(err.issues.length, 3);
  });

  test('unknown keys and problems only resolving finds are reported in the same run', () => {
    const err = errorOf(
      'lsten: {}\nusers:\n  - name: a\n    password: x\n    roles: [nope]\n    colour: red\n',
    );
    // The unknown keys, then what resolving finds: an inline password and an unknown role.
    assert.deepEqual(
      err.issues.map((i) => formatKeyPath(i.path)),
      ['users[0].colour', 'lsten', 'users[0].roles[0]', 'users[0].password'],
    );
  });

  test('bad durations and sizes', () => {
    assert.match(
      errorOf('limits:\n  auth_timeout: soon\n').message,
      /limits\.auth_timeout: expected a duration/,
    );
    assert.match(
      errorOf('limits:\n  max_message_size: lots\n').message,
      /limits\.max_message_size: expected a size/,
    );
  });

  test('a bad listen address', () => {
    assert.match(errorOf('listen:\n  postgres: "6432"\n').message, /listen\.postgres: expected "host:port"/);
  });
});

describe('environment variables', () => {
  test('${VAR} and ${VAR:-default} expand, also into numbers', () => {
    const c = parse(
      TARGET.replace('127.0.0.1', '${PGHOST}').replace(
        'user: app_rw',
        'user: ${PGU:-fallback}\n    port: ${PGPORT}',
      ),
      {
        PGHOST: 'db.internal',
        PGPORT: '6543',
      },
    );
    assert.equal(c.targets[0].host, 'db.internal');
    assert.equal(c.targets[0].user, 'fallback');
    assert.equal(c.targets[0].port, 6543);
  });

  test('$${ is a literal ${', () => {
    // A replacer function: in a replacement string, "$$" itself means "$".
    assert.equal(parse(TARGET.replace('user: app_rw', () => 'user: a$${b}')).targets[0].user, 'a${b}');
  });

  test('an unset variable is an error naming the key and the variable', () => {
    assert.equal(
      errorOf(TARGET.replace('127.0.0.1', '${DB_HOST}')).message,
      'dbtape.yaml: targets[0].host: environment variable DB_HOST is not set (set it, or write ${DB_HOST:-default})',
    );
  });

  test('a malformed reference is an error', () => {
    assert.match(
      errorOf(TARGET.replace('127.0.0.1', '${DB HOST}')).message,
      /targets\[0\]\.host: holds an invalid/,
    );
    assert.match(
      errorOf(TARGET.replace('127.0.0.1', '${DB_HOST')).message,
      /targets\[0\]\.host: unterminated/,
    );
  });
});

describe('target passwords', () => {
  test('from password_env', () => {
    const c = parse(`${TARGET}    password_env: APP_PW\n`, { APP_PW: 's3cret' });
    assert.equal(c.targets[0].password, 's3cret');
  });

  test('password_env naming an unset variable', () => {
    assert.equal(
      errorOf(`${TARGET}    password_env: APP_PW\n`).message,
      'dbtape.yaml: targets[0].password_env: environment variable APP_PW is not set',
    );
  });

  test('a password typed into password_env is not echoed', () => {
    for (const value of ['hunter2!', 'hunter2pass']) {
      const err = errorOf(`${TARGET}    password_env: ${value}\n`);
      assert.ok(!err.message.includes('hunter2'), err.message);
      assert.match(err.message, /targets\[0\]\.password_env: /);
    }
  });

  test('from password_file, relative to the config file, one trailing newline dropped', () => {
    write('secrets/app.pw', 'file-secret\n');
    assert.equal(parse(`${TARGET}    password_file: secrets/app.pw\n`).targets[0].password, 'file-secret');
    write('secrets/crlf.pw', 'crlf-secret\r\n');
    assert.equal(parse(`${TARGET}    password_file: secrets/crlf.pw\n`).targets[0].password, 'crlf-secret');
  });

  test('a missing or empty password_file', () => {
    assert.match(
      errorOf(`${TARGET}    password_file: secrets/none.pw\n`).message,
      new RegExp(`targets\\[0\\]\\.password_file: file not found: ${join(dir, 'secrets/none.pw')}`),
    );
    write('secrets/empty.pw', '\n');
    assert.match(
      errorOf(`${TARGET}    password_file: secrets/empty.pw\n`).message,
      /password_file: .* is empty/,
    );
  });

  test('an inline password is refused and not echoed', () => {
    const err = errorOf(`${TARGET}    password: hunter2\n`);
    assert.match(
      err.message,
      /^dbtape\.yaml: targets\[0\]\.password: inline passwords are not allowed.*password_env.*password_file/,
    );
    assert.ok(!err.message.includes('hunter2'));
  });

  test('both password_env and password_file', () => {
    write('secrets/app.pw', 'x\n');
    assert.match(
      errorOf(`${TARGET}    password_env: A\n    password_file: secrets/app.pw\n`, { A: 'x' }).message,
      /targets\[0\]: set password_env or password_file, not both/,
    );
  });
});

describe('paths resolve relative to the config file', () => {
  test('tls files, ca_file, encryption key and the sqlite store become absolute', () => {
    write('certs/dbtape.crt', 'cert');
    write('certs/dbtape.key', 'key');
    write('certs/ca.pem', 'ca');
    const c = parse(
      `tls:\n  cert_file: certs/dbtape.crt\n  key_file: certs/dbtape.key\n  require: true\n` +
        `store:\n  url: sqlite:state/x.db\n  encryption_key_file: keys/master.key\n` +
        `${TARGET}    tls: verify-full\n    ca_file: certs/ca.pem\n`,
    );
    assert.deepEqual(c.tls, {
      certFile: join(dir, 'certs/dbtape.crt'),
      keyFile: join(dir, 'certs/dbtape.key'),
      require: true,
    });
    assert.equal(c.store.url, `sqlite:${join(dir, 'state/x.db')}`);
    assert.equal(c.store.encryptionKeyFile, join(dir, 'keys/master.key'));
    assert.equal(c.targets[0].caFile, join(dir, 'certs/ca.pem'));
  });

  test('absolute paths stay; postgres store URLs pass through', () => {
    const c = parse('store:\n  url: sqlite:///var/lib/dbtape.db\n');
    assert.equal(c.store.url, 'sqlite:/var/lib/dbtape.db');
    assert.equal(
      parse('store:\n  url: postgres://dbtape@db:5432/dbtape\n').store.url,
      'postgres://dbtape@db:5432/dbtape',
    );
    assert.match(
      errorOf('store:\n  url: mysql://x\n').message,
      /store\.url: expected sqlite:PATH or postgres:/,
    );
  });
});

describe('cross-checks', () => {
  test('duplicate target, user and role names', () => {
    assert.match(
      errorOf(`${TARGET}${TARGET.replace('targets:\n', '')}`).message,
      /targets\[1\]\.name: duplicate target name "app"/,
    );
    const user = `  - name: alice\n    password: "${VERIFIER}"\n`;
    assert.match(errorOf(`users:\n${user}${user}`).message, /users\[1\]\.name: duplicate user name "alice"/);
    assert.match(
      errorOf('roles:\n  - name: r\n  - name: r\n').message,
      /roles\[1\]\.name: duplicate role name "r"/,
    );
  });

  test('a role naming an unknown target', () => {
    assert.equal(
      errorOf(`${TARGET}roles:\n  - name: r\n    targets: [app, ghost]\n`).message,
      'dbtape.yaml: roles[0].targets[1]: unknown target "ghost" (known: app)',
    );
  });

  test('a user naming an unknown role; reserved roles need no definition', () => {
    const users = (roles: string) =>
      `users:\n  - name: alice\n    password: "${VERIFIER}"\n    roles: ${roles}\n`;
    assert.match(errorOf(users('[analyst]')).message, /users\[0\]\.roles\[0\]: unknown role "analyst"/);
    assert.deepEqual(parse(users('[auditor, admin]')).users[0].roles, ['auditor', 'admin']);
    assert.deepEqual(parse(`${users('admin')}`).users[0].roles, ['admin']);
  });

  test('a plaintext user password is refused, pointing at `dbtape user hash`, never echoed', () => {
    const err = errorOf('users:\n  - name: alice\n    password: hunter2\n');
    assert.match(err.message, /users\[0\]\.password: .*`dbtape user hash`/);
    assert.ok(!err.message.includes('hunter2'));
    const broken = errorOf('users:\n  - name: alice\n    password: "SCRAM-SHA-256$4096:abc$def:ghi"\n');
    assert.match(broken.message, /users\[0\]\.password: malformed verifier/);
  });

  test('a valid user carries parsed verifiers', () => {
    const c = parse(
      `${TARGET}roles:\n  - name: r\n    targets: [app]\n    access: write\nusers:\n  - name: alice\n    password: "${VERIFIER}"\n    roles: [r]\n`,
    );
    assert.equal(c.users[0].verifiers.scramSha256.iterations, 16);
    assert.equal(c.users[0].verifiers.mysqlNative?.length, 20);
    assert.deepEqual(c.roles[0], { name: 'r', targets: ['app'], access: 'write' });
  });

  test('tls.require without a certificate; cert without key; files that do not exist', () => {
    assert.match(
      errorOf('tls:\n  require: true\n').message,
      /tls\.require: true needs tls\.cert_file and tls\.key_file/,
    );
    write('certs/only.crt', 'cert');
    assert.match(errorOf('tls:\n  cert_file: certs/only.crt\n').message, /tls\.key_file: is required/);
    assert.match(
      errorOf('tls:\n  cert_file: certs/missing.crt\n  key_file: certs/missing.key\n').message,
      /tls\.cert_file: file not found: .*missing\.crt\n.*tls\.key_file: file not found/,
    );
  });

  test('verify-full needs ca_file; ca_file makes no sense with tls disabled', () => {
    assert.match(
      errorOf(`${TARGET}    tls: verify-full\n`).message,
      /targets\[0\]\.ca_file: tls: verify-full needs ca_file/,
    );
    write('certs/ca.pem', 'ca');
    assert.match(
      errorOf(`${TARGET}    tls: disable\n    ca_file: certs/ca.pem\n`).message,
      /ca_file: has no effect/,
    );
  });

  test('channel_binding: require needs TLS, and is for PostgreSQL targets only', () => {
    assert.equal(parse(`${TARGET}    channel_binding: require\n`).targets[0]!.channelBinding, 'require');
    assert.match(
      errorOf(`${TARGET}    tls: disable\n    channel_binding: require\n`).message,
      /targets\[0\]\.channel_binding: require needs TLS to bind to/,
    );
    assert.match(
      errorOf(`${TARGET.replace('postgres', 'mysql')}    channel_binding: prefer\n`).message,
      /targets\[0\]\.channel_binding: is for PostgreSQL targets/,
    );
    assert.match(errorOf(`${TARGET}    channel_binding: maybe\n`).message, /channel_binding/);
  });

  test('two listeners on one address', () => {
    assert.match(
      errorOf('listen:\n  postgres: 127.0.0.1:7000\n  http: 127.0.0.1:7000\n').message,
      /listen\.http: same address as listen\.postgres/,
    );
  });
});
