import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { randomBytes, X509Certificate } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { after, describe, test } from 'node:test';
import { tlsServerEndPoint } from '../../src/protocol/postgres/channel-binding.js';
import {
  type ClientBinding,
  deriveScramKeys,
  SCRAM_MECHANISM,
  SCRAM_PLUS_MECHANISM,
  ScramClient,
  ScramError,
  ScramServer,
  scramMechanisms,
} from '../../src/protocol/postgres/scram.js';
import { type CertKind, makeSelfSignedCert } from '../support/certs.js';

// node-postgres's client: an independent implementation of SCRAM-SHA-256-PLUS to check against.
const require = createRequire(import.meta.url);
const pgSasl = require('pg/lib/crypto/sasl') as {
  startSession(mechanisms: string[], stream?: object): { mechanism: string; response: string };
  continueSession(session: object, password: string, serverData: string, stream?: object): Promise<void>;
  finalizeSession(session: object, serverData: string): void;
};
const pgCertSignatures = require('pg/lib/crypto/cert-signatures') as {
  signatureAlgorithmHashFromCertificate(raw: Buffer): string;
};

const dir = mkdtempSync(path.join(tmpdir(), 'dbtape-cbind-'));
after(() => rmSync(dir, { recursive: true, force: true }));

function certDer(name: string, kind: CertKind): Buffer {
  const { certFile } = makeSelfSignedCert(path.join(dir, name), kind);
  return new X509Certificate(readFileSync(certFile)).raw;
}

/** What `openssl dgst` makes of the DER certificate: the reference hash, computed outside Node. */
function opensslDigest(der: Buffer, hash: string): Buffer {
  const file = path.join(dir, `${randomBytes(4).toString('hex')}.der`);
  writeFileSync(file, der);
  return execFileSync('openssl', ['dgst', `-${hash}`, '-binary', file]);
}

const mockSecret = randomBytes(32);
const password = 'channel-bound password';
const salt = randomBytes(16);
const secret = { iterations: 4096, salt, ...deriveScramKeys(password, salt, 4096) };

/** One exchange between our client and our server; the server's result, or the error either raised. */
function exchange(server: ScramServer, client: ScramClient): { ok: boolean } {
  const serverFirst = server.clientFirst(client.clientFirst());
  const result = server.clientFinal(client.serverFirst(serverFirst));
  if (result.ok) client.serverFinal(result.serverFinal);
  return { ok: result.ok };
}

function serverOn(binding: Buffer | null, mechanism: string): ScramServer {
  return new ScramServer(secret, { mockSecret, username: 'alice', channelBinding: binding, mechanism });
}

describe('tls-server-end-point data (RFC 5929 section 4.1)', () => {
  const cases: { name: string; kind: CertKind; hash: string }[] = [
    { name: 'RSA signed with SHA-256', kind: { digest: 'sha256' }, hash: 'sha256' },
    { name: 'RSA signed with SHA-384', kind: { digest: 'sha384' }, hash: 'sha384' },
    { name: 'RSA signed with SHA-512', kind: { digest: 'sha512' }, hash: 'sha512' },
    { name: 'RSA signed with SHA-1 (SHA-256 instead)', kind: { digest: 'sha1' }, hash: 'sha256' },
    { name: 'ECDSA P-256 with SHA-256', kind: { key: 'ec', curve: 'P-256' }, hash: 'sha256' },
    {
      name: 'ECDSA P-384 with SHA-384',
      kind: { key: 'ec', curve: 'P-384', digest: 'sha384' },
      hash: 'sha384',
    },
  ];
  for (const c of cases) {
    test(`${c.name}: the certificate's ${c.hash}, as openssl and node-postgres compute it`, () => {
      const der = certDer(c.name.replace(/\W+/g, '-'), c.kind);
      assert.deepEqual(tlsServerEndPoint(der), opensslDigest(der, c.hash));
      const pgHash = pgCertSignatures
        .signatureAlgorithmHashFromCertificate(der)
        .replace('-', '')
        .toLowerCase();
      assert.equal(pgHash === 'sha1' ? 'sha256' : pgHash, c.hash);
    });
  }

  test('a certificate signed with no separate hash (Ed25519) has none, nor has garbage', () => {
    assert.equal(tlsServerEndPoint(certDer('ed25519', { key: 'ed25519' })), null);
    assert.equal(tlsServerEndPoint(Buffer.from('not a certificate')), null);
    assert.equal(tlsServerEndPoint(Buffer.alloc(0)), null);
    const der = certDer('truncated', {});
    for (const cut of [1, 4, 40, der.length - 300, der.length - 1]) {
      assert.equal(tlsServerEndPoint(der.subarray(0, cut)), null, `cut at ${cut}`);
    }
  });
});

describe('SCRAM-SHA-256-PLUS', () => {
  const binding = randomBytes(32);
  const bound: ClientBinding = { kind: 'bound', data: binding };

  test('PLUS is offered first with binding data, and only plain SCRAM without', () => {
    assert.deepEqual(scramMechanisms(binding), [SCRAM_PLUS_MECHANISM, SCRAM_MECHANISM]);
    assert.deepEqual(scramMechanisms(null), [SCRAM_MECHANISM]);
  });

  test('a bound exchange succeeds when both ends see the same certificate', () => {
    const client = new ScramClient(password, { binding: bound });
    assert.equal(client.mechanism, SCRAM_PLUS_MECHANISM);
    assert.match(client.clientFirst().toString('latin1'), /^p=tls-server-end-point,,n=,r=/);
    const again = new ScramClient(password, { binding: bound });
    assert.deepEqual(exchange(serverOn(binding, again.mechanism), again), { ok: true });
  });

  test('a man in the middle (another certificate on each side) fails the exchange', () => {
    const client = new ScramClient(password, { binding: bound });
    assert.throws(
      () => exchange(serverOn(randomBytes(32), SCRAM_PLUS_MECHANISM), client),
      /channel binding check failed/,
    );
  });

  test('a client that could bind but was not offered it (y) is refused where binding was offered', () => {
    const client = new ScramClient(password, { binding: { kind: 'unoffered' } });
    assert.equal(client.mechanism, SCRAM_MECHANISM);
    assert.throws(() => exchange(serverOn(binding, SCRAM_MECHANISM), client), /negotiation error/);
    const plain = new ScramClient(password, { binding: { kind: 'unoffered' } });
    assert.deepEqual(exchange(serverOn(null, SCRAM_MECHANISM), plain), { ok: true }, 'accepted without TLS');
  });

  test('a plain exchange over TLS still works for clients that do not bind (n)', () => {
    const client = new ScramClient(password);
    assert.deepEqual(exchange(serverOn(binding, SCRAM_MECHANISM), client), { ok: true });
  });

  test('the mechanism and the GS2 header must agree, and PLUS needs TLS', () => {
    const first = (gs2: string) => Buffer.from(`${gs2}n=,r=nonce`, 'latin1');
    assert.throws(
      () => serverOn(binding, SCRAM_PLUS_MECHANISM).clientFirst(first('n,,')),
      /no channel binding/,
    );
    assert.throws(
      () => serverOn(binding, SCRAM_MECHANISM).clientFirst(first('p=tls-server-end-point,,')),
      /asks for channel binding/,
    );
    assert.throws(
      () => serverOn(binding, SCRAM_PLUS_MECHANISM).clientFirst(first('p=tls-unique,,')),
      /unsupported SCRAM channel-binding type "tls-unique"/,
    );
    assert.throws(
      () => serverOn(binding, SCRAM_PLUS_MECHANISM).clientFirst(first('p=tls-server-end-point')),
      ScramError,
    );
    assert.throws(() => serverOn(binding, SCRAM_PLUS_MECHANISM).clientFirst(first('p,,')), ScramError);
    assert.throws(() => serverOn(null, SCRAM_PLUS_MECHANISM), /invalid SASL authentication mechanism/);
  });

  test("node-postgres's client binds to our server, and is caught when the certificates differ", async () => {
    const der = certDer('pg-client', {});
    const data = tlsServerEndPoint(der)!;
    const stream = { getPeerCertificate: () => ({ raw: der }) };
    for (const [serverBinding, ok] of [
      [data, true],
      [tlsServerEndPoint(certDer('other', {}))!, false],
    ] as const) {
      const session = pgSasl.startSession(scramMechanisms(serverBinding), stream);
      assert.equal(session.mechanism, SCRAM_PLUS_MECHANISM);
      const server = serverOn(serverBinding, session.mechanism);
      const serverFirst = server.clientFirst(Buffer.from(session.response, 'latin1')).toString('latin1');
      await pgSasl.continueSession(session, password, serverFirst, stream);
      const final = Buffer.from((session as { response: string }).response, 'latin1');
      if (ok) {
        const result = server.clientFinal(final);
        assert.ok(result.ok);
        pgSasl.finalizeSession(session, result.serverFinal.toString('latin1'));
      } else {
        assert.throws(() => server.clientFinal(final), /channel binding check failed/);
      }
    }
  });
});
