/**
 * `dbtape keys tls`: a self-signed certificate that clients can verify for every name it lists,
 * written where the config says, private key 0600, never over an existing file.
 */
import assert from 'node:assert/strict';
import { X509Certificate } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, test } from 'node:test';
import { connect, createSecureContext, TLSSocket } from 'node:tls';
import { checkCertName, makeSelfSignedCert } from '../../src/cli/self-signed-cert.js';
import { dbtapeCli } from '../support/dbtape-process.js';

const dir = mkdtempSync(join(tmpdir(), 'dbtape-keys-tls-'));
after(() => rmSync(dir, { recursive: true, force: true }));

/** Completes a TLS handshake against cert/key, verifying it for `servername` (or an IP host). */
async function handshake(certPem: string, keyPem: string, host: string, servername?: string): Promise<void> {
  const context = createSecureContext({ cert: certPem, key: keyPem });
  const server = createServer((raw) => {
    const s = new TLSSocket(raw, { isServer: true, secureContext: context });
    s.on('error', () => {});
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const port = (server.address() as { port: number }).port;
  try {
    await new Promise<void>((resolve, reject) => {
      const c = connect({
        host: '127.0.0.1',
        port,
        ca: certPem,
        servername,
        checkServerIdentity: (_h, cert) =>
          new X509Certificate(cert.raw).checkHost(host) || new X509Certificate(cert.raw).checkIP(host)
            ? undefined
            : new Error(`not valid for ${host}`),
      });
      c.once('secureConnect', () => {
        c.end();
        resolve();
      });
      c.once('error', reject);
    });
  } finally {
    server.close();
  }
}

describe('makeSelfSignedCert', () => {
  test('lists every name as a subjectAltName, IPv4, IPv6 and host names alike', async () => {
    const names = [
      'localhost',
      '127.0.0.1',
      '::1',
      'db.example.com',
      '10.1.2.3',
      'fd00::1:2',
      '::ffff:192.0.2.1',
    ];
    const { certPem, keyPem } = makeSelfSignedCert({ commonName: 'dbtape', names, validDays: 10 });
    const cert = new X509Certificate(certPem);
    assert.equal(cert.checkHost('db.example.com'), 'db.example.com');
    assert.equal(cert.checkHost('other.example.com'), undefined);
    for (const ip of ['127.0.0.1', '10.1.2.3', '::1', 'fd00::1:2']) assert.ok(cert.checkIP(ip), ip);
    assert.equal(cert.checkIP('10.1.2.4'), undefined);
    const days = (Date.parse(cert.validTo) - Date.now()) / 86_400_000;
    assert.ok(days > 9 && days <= 10, `valid for ${days} days`);
    await handshake(certPem, keyPem, 'db.example.com', 'db.example.com');
  });

  test('refuses what is neither a host name nor an address', () => {
    for (const bad of ['', 'a b', 'evil/path', '-x.example', 'x'.repeat(64)]) {
      assert.throws(() => checkCertName(bad), /neither a host name nor an IP address/, bad);
    }
    assert.equal(checkCertName('*.example.com'), '*.example.com');
  });
});

describe('dbtape keys tls', () => {
  const run = (args: string[], cwd = dir) => dbtapeCli(['keys', 'tls', ...args], { cwd });

  test("writes the config's tls files for the loopback names and listen hosts, key 0600, never overwriting", async () => {
    const sub = mkdtempSync(join(dir, 'cfg-'));
    writeFileSync(
      join(sub, 'dbtape.yaml'),
      'listen:\n  postgres: 10.20.30.40:6432\n  http: 0.0.0.0:8080\ntls:\n  cert_file: tls/x.crt\n  key_file: tls/x.key\n',
    );
    const r = await run(['-c', join(sub, 'dbtape.yaml'), '--name', 'db.example.com', '--days', '30'], sub);
    assert.equal(r.code, 0, r.stderr);
    const cert = new X509Certificate(readFileSync(join(sub, 'tls', 'x.crt')));
    assert.ok(cert.checkIP('10.20.30.40'), 'the listen host');
    assert.ok(cert.checkIP('127.0.0.1') && cert.checkHost('localhost') && cert.checkHost('db.example.com'));
    assert.equal(statSync(join(sub, 'tls', 'x.key')).mode & 0o777, 0o600);
    assert.doesNotMatch(r.stdout, /add to/, 'the config already names the files');
    assert.match(r.stdout, /sslmode=verify-full&sslrootcert=tls\/x\.crt/);
    const key = readFileSync(join(sub, 'tls', 'x.key'), 'utf8');
    await handshake(cert.toString(), key, '10.20.30.40');

    const again = await run(['-c', join(sub, 'dbtape.yaml')], sub);
    assert.equal(again.code, 1);
    assert.match(again.stderr, /already exist; dbtape never overwrites key files \(nothing was written\)/);
    assert.equal(readFileSync(join(sub, 'tls', 'x.key'), 'utf8'), key, 'the key is untouched');
  });

  test('without a config: certs/dbtape.crt and .key, and the lines to add to dbtape.yaml', async () => {
    const sub = mkdtempSync(join(dir, 'bare-'));
    const r = await run([], sub);
    assert.equal(r.code, 0, r.stderr);
    assert.match(
      r.stdout,
      /add to dbtape\.yaml:\ntls:\n {2}cert_file: certs\/dbtape\.crt\n {2}key_file: certs\/dbtape\.key/,
    );
    assert.ok(statSync(join(sub, 'certs', 'dbtape.crt')).isFile());
  });

  test('bad options are usage errors', async () => {
    const bad = await run([
      '--name',
      'not a name',
      '--cert',
      join(dir, 'n.crt'),
      '--key',
      join(dir, 'n.key'),
    ]);
    assert.equal(bad.code, 2);
    assert.match(bad.stderr, /--name: "not a name" is neither a host name nor an IP address/);
    const days = await run(['--days', '0', '--cert', join(dir, 'n.crt'), '--key', join(dir, 'n.key')]);
    assert.equal(days.code, 2);
  });
});
