/**
 * Which KILL texts dbtape maps, refuses or lets pass (proxy/mysql/kill-statement.ts). Every form
 * the server would run as a KILL must be seen: executable comments run as code, a KILL may follow
 * a long statement, and dynamic SQL can carry one in a string.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import {
  dynamicKill,
  hidesKill,
  mayBeKill,
  parseKill,
  unwrapExecutable,
} from '../../src/proxy/mysql/kill-statement.js';

const query = (sql: string) => Buffer.concat([Buffer.from([0x03]), Buffer.from(sql)]);

test('a KILL inside an executable comment is a KILL', () => {
  assert.deepEqual(parseKill('/*!KILL 7*/'), { kind: 'kill', query: false, modifier: '', id: 7 });
  assert.deepEqual(parseKill('/*!50000 KILL QUERY 7 */'), { kind: 'kill', query: true, modifier: '', id: 7 });
  assert.deepEqual(parseKill('/*M!100000 kill hard 7*/;'), {
    kind: 'kill',
    query: false,
    modifier: 'HARD ',
    id: 7,
  });
  assert.deepEqual(parseKill('/* a plain comment */ /*!KILL*/ QUERY 7'), {
    kind: 'kill',
    query: true,
    modifier: '',
    id: 7,
  });
  // A plain comment stays a comment.
  assert.equal(parseKill('/* KILL 7 */ SELECT 1'), null);
  assert.equal(unwrapExecutable('SELECT /*!STRAIGHT_JOIN*/ 1'), 'SELECT  STRAIGHT_JOIN  1');
  assert.equal(unwrapExecutable('/*!KILL 7'), ' KILL 7');
});

test('a KILL hidden after a semicolon, also inside an executable comment, is seen', () => {
  assert.equal(hidesKill('SELECT 1; KILL 7'), true);
  assert.equal(hidesKill('SELECT 1; /*! KILL 7 */'), true);
  assert.equal(hidesKill('SELECT 1 /*!; KILL 7*/'), true);
  assert.equal(hidesKill('SELECT 1; SELECT 2'), false);
});

test('KILL in dynamic SQL is seen when it is in the text', () => {
  assert.equal(dynamicKill("PREPARE s FROM 'KILL 7'"), true);
  assert.equal(dynamicKill("execute immediate 'kill query 7'"), true);
  assert.equal(dynamicKill("/*!PREPARE s FROM 'KILL 7'*/"), true);
  assert.equal(dynamicKill("PREPARE s FROM 'SELECT 1'"), false);
  assert.equal(dynamicKill("SELECT 'kill'"), false);
});

test('the byte pre-check finds kill in any case, anywhere in the statement', () => {
  assert.equal(mayBeKill(query(`SELECT '${'x'.repeat(600)}'; kIlL 7`)), true);
  assert.equal(mayBeKill(query('KILL 7')), true);
  assert.equal(mayBeKill(query('SELECT 1')), false);
  assert.equal(mayBeKill(query('SELECT kil')), false);
  // The command byte is not part of the text.
  assert.equal(mayBeKill(Buffer.from('kill')), false);
});

test('hostile text is judged in one pass (anchored patterns; a backtracking one would hang here)', () => {
  // Many PREPAREs without a FROM, an unterminated comment, a long run without a semicolon.
  const hostile = `${'PREPARE '.repeat(50_000)}/* ${'x'.repeat(200_000)} KILL`;
  assert.equal(dynamicKill(hostile), true);
  assert.equal(hidesKill(`SELECT 1;${hostile}`), false);
  assert.deepEqual(parseKill(`/* ${'x'.repeat(200_000)} KILL 7`), null);
});
