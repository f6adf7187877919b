import assert from 'node:assert/strict';
import { createHmac, randomBytes } from 'node:crypto';
import { createRequire } from 'node:module';
import { describe, test } from 'node:test';
import { md5Response } from '../../src/protocol/postgres/md5.js';
import {
  deriveScramKeys,
  SCRAM_MECHANISM,
  ScramClient,
  ScramError,
  type ScramSecret,
  ScramServer,
} from '../../src/protocol/postgres/scram.js';

// node-postgres's own SCRAM client and md5 helper: an independent implementation to check against.
const require = createRequire(import.meta.url);
const pgSasl = require('pg/lib/crypto/sasl') as {
  startSession(mechanisms: string[]): { response: string };
  continueSession(session: object, password: string, serverData: string): Promise<void>;
  finalizeSession(session: object, serverData: string): void;
};
const pgUtils = require('pg/lib/crypto/utils') as {
  postgresMd5PasswordHash(user: string, password: string, salt: Buffer): Promise<string>;
};

const b = (s: string) => Buffer.from(s, 'latin1');
const mockSecret = randomBytes(32);

function secretFor(password: string, iterations = 4096): ScramSecret {
  const salt = randomBytes(16);
  const { storedKey, serverKey } = deriveScramKeys(password, salt, iterations);
  return { iterations, salt, storedKey, serverKey };
}

/** A complete exchange between our client and our server. */
function exchange(clientPassword: string, secret: ScramSecret | null) {
  const client = new ScramClient(clientPassword);
  const server = new ScramServer(secret, { mockSecret, username: 'alice' });
  const serverFirst = server.clientFirst(client.clientFirst());
  const result = server.clientFinal(client.serverFirst(serverFirst));
  return { client, result, serverFirst: serverFirst.toString('latin1') };
}

// RFC 7677 section 3: user "user", password "pencil".
const RFC = {
  clientNonce: 'rOprNGfwEbeRWgbNEkqO',
  serverNonce: '%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0',
  clientFirst: 'n,,n=user,r=rOprNGfwEbeRWgbNEkqO',
  serverFirst: 'r=rOprNGfwEbeRWgbNEkqO%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0,s=W22ZaJ0SNY7soEsUEjb6gQ==,i=4096',
  clientFinal:
    'c=biws,r=rOprNGfwEbeRWgbNEkqO%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0,p=dHzbZapWIk4jUhN+Ute9ytag9zjfMHgsqmmiz7AndVQ=',
  serverFinal: 'v=6rriTRBi23WpRR/wtup+mMhUZUn/dB5nLTJRsjl95G4=',
};

describe('SCRAM-SHA-256, RFC 7677 test vector', () => {
  test('the client produces the RFC messages', () => {
    const client = new ScramClient('pencil', { nonce: RFC.clientNonce, username: 'user' });
    assert.equal(client.clientFirst().toString(), RFC.clientFirst);
    assert.equal(client.serverFirst(b(RFC.serverFirst)).toString(), RFC.clientFinal);
    client.serverFinal(b(RFC.serverFinal));
  });

  test('the server produces the RFC messages and accepts the proof', () => {
    const salt = Buffer.from('W22ZaJ0SNY7soEsUEjb6gQ==', 'base64');
    const keys = deriveScramKeys('pencil', salt, 4096);
    const secret = { iterations: 4096, salt, storedKey: keys.storedKey, serverKey: keys.serverKey };
    const server = new ScramServer(secret, { mockSecret, username: 'user', nonce: RFC.serverNonce });
    assert.equal(server.clientFirst(b(RFC.clientFirst)).toString(), RFC.serverFirst);
    const result = server.clientFinal(b(RFC.clientFinal));
    assert.ok(result.ok);
    assert.equal(result.serverFinal.toString(), RFC.serverFinal);
  });

  test('the mechanism name is what PostgreSQL advertises', () => {
    assert.equal(SCRAM_MECHANISM, 'SCRAM-SHA-256');
  });
});

describe('SCRAM round trips', () => {
  test('the right password signs in, and the client accepts the server signature', () => {
    const secret = secretFor('correct horse');
    const client = new ScramClient('correct horse');
    const server = new ScramServer(secret, { mockSecret, username: 'alice' });
    const serverFirst = server.clientFirst(client.clientFirst());
    const result = server.clientFinal(client.serverFirst(serverFirst));
    assert.ok(result.ok);
    client.serverFinal(result.serverFinal);
  });

  test('a wrong password fails', () => {
    assert.deepEqual(exchange('wrong', secretFor('right')).result, { ok: false });
  });

  test('non-ASCII passwords use SASLprep on both sides', () => {
    // U+00AA normalizes to "a" and U+00AD maps to nothing (RFC 4013 section 3 examples).
    assert.ok(exchange('p\u00ADass\u00AA', secretFor('passa')).result.ok);
  });

  test('node-postgres, as a client, signs in to our server', async () => {
    const secret = secretFor('s3cret!');
    const server = new ScramServer(secret, { mockSecret, username: 'alice' });
    const session = pgSasl.startSession(['SCRAM-SHA-256']);
    const serverFirst = server.clientFirst(b(session.response)).toString('latin1');
    await pgSasl.continueSession(session, 's3cret!', serverFirst);
    const result = server.clientFinal(b(session.response));
    assert.ok(result.ok);
    pgSasl.finalizeSession(session, result.serverFinal.toString('latin1'));
  });

  test('a client that supports channel binding but was not offered it (y,,) signs in with c=eSws', () => {
    const secret = secretFor('pw');
    const run = (cbind: string) => {
      const server = new ScramServer(secret, { mockSecret, username: 'alice' });
      const bare = 'n=,r=clientnonce';
      const serverFirst = server.clientFirst(b(`y,,${bare}`)).toString('latin1');
      const nonce = /r=([^,]+)/.exec(serverFirst)![1];
      const withoutProof = `c=${cbind},r=${nonce}`;
      const { clientKey, storedKey } = deriveScramKeys('pw', secret.salt, secret.iterations);
      const signature = createHmac('sha256', storedKey)
        .update(`${bare},${serverFirst},${withoutProof}`)
        .digest();
      const proof = Buffer.from(clientKey.map((x, i) => x ^ signature[i]));
      return server.clientFinal(b(`${withoutProof},p=${proof.toString('base64')}`));
    };
    assert.ok(run('eSws').ok);
    assert.throws(() => run('biws'), ScramError, 'c=biws must not pass for a y,, header');
  });

  test('an unknown user sees the same exchange and always fails', () => {
    const unknown = exchange('anything', null);
    assert.deepEqual(unknown.result, { ok: false });
    const known = exchange('anything', secretFor('anything'));
    const shape = (s: string) => s.replace(/=[^,]+/g, '=');
    assert.equal(shape(unknown.serverFirst), shape(known.serverFirst));
    assert.match(unknown.serverFirst, /,i=4096$/);
  });

  test("an unknown user's salt is stable per name, and differs between names", () => {
    const saltOf = (username: string) => {
      const server = new ScramServer(null, { mockSecret, username });
      return /s=([^,]+)/.exec(server.clientFirst(b('n,,n=,r=abc')).toString())![1];
    };
    assert.equal(saltOf('mallory'), saltOf('mallory'));
    assert.notEqual(saltOf('mallory'), saltOf('trudy'));
    assert.equal(Buffer.from(saltOf('mallory'), 'base64').length, 16);
  });
});

describe('SCRAM server: hostile client input gives ScramError, never a crash', () => {
  const secret = secretFor('pw');
  const fresh = () => new ScramServer(secret, { mockSecret, username: 'alice' });
  const firstCases: Record<string, Buffer> = {
    empty: Buffer.alloc(0),
    garbage: randomBytes(64),
    huge: Buffer.alloc(1024 * 1024, 'a'),
    'channel binding requested': b('p=tls-server-end-point,,n=,r=abc'),
    'authorization identity': b('n,a=bob,n=,r=abc'),
    'bad gs2 flag': b('x,,n=,r=abc'),
    'missing nonce': b('n,,n='),
    'missing user attribute': b('n,,r=abc'),
    'empty nonce': b('n,,n=,r='),
    'nonce with a control character': b('n,,n=,r=ab\x01c'),
    'mandatory extension': b('n,,m=foo,n=,r=abc'),
    'NUL byte': b('n,,n=\0,r=abc'),
    'trailing comma': b('n,,n=,r=abc,'),
  };
  for (const [name, msg] of Object.entries(firstCases)) {
    test(`client-first: ${name}`, () => {
      assert.throws(() => fresh().clientFirst(msg), ScramError);
    });
  }

  function afterFirst() {
    const server = fresh();
    const nonce = /r=([^,]+)/.exec(server.clientFirst(b('n,,n=,r=clientnonce')).toString())![1];
    return { server, nonce };
  }
  const proof = Buffer.alloc(32, 7).toString('base64');
  const finalCases: Record<string, (nonce: string) => string> = {
    'wrong nonce': () => `c=biws,r=clientnonceXXXX,p=${proof}`,
    'missing proof': (n) => `c=biws,r=${n}`,
    'proof is not base64': (n) => `c=biws,r=${n},p=!!!!`,
    'proof of the wrong length': (n) => `c=biws,r=${n},p=${Buffer.alloc(8).toString('base64')}`,
    'channel binding is not base64': (n) => `c=b*ws,r=${n},p=${proof}`,
    'channel binding mismatch': (n) => `c=eSws,r=${n},p=${proof}`,
    'attributes out of order': (n) => `r=${n},c=biws,p=${proof}`,
    garbage: () => randomBytes(40).toString('latin1'),
  };
  for (const [name, make] of Object.entries(finalCases)) {
    test(`client-final: ${name}`, () => {
      const { server, nonce } = afterFirst();
      assert.throws(() => server.clientFinal(b(make(nonce))), ScramError);
    });
  }

  test('a well-formed final with a wrong proof is a failure, not an error', () => {
    const { server, nonce } = afterFirst();
    assert.deepEqual(server.clientFinal(b(`c=biws,r=${nonce},p=${proof}`)), { ok: false });
  });

  test('messages out of order', () => {
    assert.throws(() => fresh().clientFinal(b('c=biws,r=x,p=x')), ScramError);
    const { server } = afterFirst();
    assert.throws(() => server.clientFirst(b('n,,n=,r=again')), ScramError);
  });

  test('random bytes never escape as anything but ScramError', () => {
    for (let i = 0; i < 500; i++) {
      const msg = randomBytes(1 + (i % 80));
      if (i % 3 === 0) msg.write('n,,n=,r=', 0, 'latin1');
      try {
        const server = fresh();
        server.clientFirst(msg);
        server.clientFinal(randomBytes(1 + (i % 90)));
      } catch (err) {
        assert.ok(err instanceof ScramError, `unexpected ${String(err)}`);
      }
    }
  });
});

describe('SCRAM client: hostile server input', () => {
  const start = () => {
    const client = new ScramClient('pw', { nonce: 'cnonce' });
    client.clientFirst();
    return client;
  };
  const cases: Record<string, string> = {
    'nonce does not extend ours': 'r=othernonce,s=c2FsdA==,i=4096',
    'nonce equals ours': 'r=cnonce,s=c2FsdA==,i=4096',
    'zero iterations': 'r=cnonceXY,s=c2FsdA==,i=0',
    'non-numeric iterations': 'r=cnonceXY,s=c2FsdA==,i=abc',
    'absurd iterations': 'r=cnonceXY,s=c2FsdA==,i=999999999',
    'salt not base64': 'r=cnonceXY,s=***,i=4096',
    'empty salt': 'r=cnonceXY,s=,i=4096',
    'missing salt': 'r=cnonceXY,i=4096',
    'error instead': 'e=other-error',
  };
  for (const [name, msg] of Object.entries(cases)) {
    test(`server-first: ${name}`, () => {
      assert.throws(() => start().serverFirst(b(msg)), ScramError);
    });
  }

  test('server-final with an error or a wrong signature is refused', () => {
    const final = () => {
      const client = start();
      client.serverFirst(b('r=cnonceXY,s=c2FsdA==,i=16'));
      return client;
    };
    assert.throws(() => final().serverFinal(b('e=invalid-proof')), /invalid-proof/);
    assert.throws(() => final().serverFinal(b(`v=${Buffer.alloc(32).toString('base64')}`)), ScramError);
    assert.throws(() => final().serverFinal(b('v=short')), ScramError);
    assert.throws(() => final().serverFinal(b('x')), ScramError);
  });

  test('calls out of order', () => {
    assert.throws(() => new ScramClient('pw').serverFirst(b('r=x,s=c2FsdA==,i=1')), ScramError);
    assert.throws(() => start().serverFinal(b('v=x')), ScramError);
    const client = new ScramClient('pw');
    client.clientFirst();
    assert.throws(() => client.clientFirst(), ScramError);
  });
});

describe('md5 password response', () => {
  test('matches node-postgres for the same user, password and salt', async () => {
    const salt = Buffer.from([0x93, 0x1a, 0x00, 0xff]);
    const ours = md5Response('alice', 'pässword', salt).toString('latin1');
    assert.equal(ours, await pgUtils.postgresMd5PasswordHash('alice', 'pässword', salt));
    assert.match(ours, /^md5[0-9a-f]{32}$/);
  });
});
