/**
 * SCRAM-SHA-256 (RFC 5802, RFC 7677) as PostgreSQL uses it (protocol docs, "SASL Authentication";
 * src/backend/libpq/auth-scram.c): pure state machines over the SASL message payloads. No I/O; the
 * caller moves the bytes inside AuthenticationSASL* / SASLInitialResponse / SASLResponse messages.
 *
 * Over TLS, SCRAM-SHA-256-PLUS binds the exchange to the server's certificate (channel-binding.ts);
 * a client or server that could bind but was not offered it says so (`y`), so that a man in the
 * middle who strips the offer is caught by the other end.
 */
import { createHash, createHmac, pbkdf2Sync, randomBytes, timingSafeEqual } from 'node:crypto';
import { CHANNEL_BINDING_TYPE } from './channel-binding.js';
import { scramPasswordBytes } from './saslprep.js';

export const SCRAM_MECHANISM = 'SCRAM-SHA-256';
export const SCRAM_PLUS_MECHANISM = 'SCRAM-SHA-256-PLUS';
/** PostgreSQL's default scram_iterations. */
export const SCRAM_DEFAULT_ITERATIONS = 4096;
/** PostgreSQL's SCRAM_DEFAULT_SALT_LEN. */
export const SCRAM_SALT_LENGTH = 16;
/** PostgreSQL's SCRAM_RAW_NONCE_LEN: random bytes in a nonce, before base64. */
const RAW_NONCE_LENGTH = 18;
const KEY_LENGTH = 32;
/** Largest SCRAM message we parse. Real ones are ~100 bytes; this bounds work on hostile input. */
const MAX_MESSAGE_LENGTH = 16 * 1024;
/**
 * Upper bound on an upstream's iteration count: PBKDF2 runs synchronously, and a hostile or spoofed
 * server asking for billions of iterations would freeze the proxy. PostgreSQL's default is 4096.
 */
const MAX_ITERATIONS = 1_000_000;

/** A stored SCRAM secret; the same shape as model's ScramVerifier (protocol/ does not import model/). */
export interface ScramSecret {
  readonly iterations: number;
  readonly salt: Buffer;
  readonly storedKey: Buffer;
  readonly serverKey: Buffer;
}

export class ScramError extends Error {
  readonly code = 'DBTAPE_SCRAM';
  override name = 'ScramError';
}

/** Strings here are latin-1 views of wire bytes (see messageText), so they go back out as latin-1. */
function hmac(key: Buffer, data: string): Buffer {
  return createHmac('sha256', key).update(data, 'latin1').digest();
}

function sha256(data: Buffer): Buffer {
  return createHash('sha256').update(data).digest();
}

function xor(a: Buffer, b: Buffer): Buffer {
  const out = Buffer.allocUnsafe(a.length);
  for (let i = 0; i < a.length; i++) out[i] = a[i] ^ b[i];
  return out;
}

/** RFC 5802 section 3: ClientKey, StoredKey and ServerKey from a SaltedPassword. */
function keysFromSalted(salted: Buffer): { clientKey: Buffer; storedKey: Buffer; serverKey: Buffer } {
  const clientKey = hmac(salted, 'Client Key');
  return { clientKey, storedKey: sha256(clientKey), serverKey: hmac(salted, 'Server Key') };
}

/** Derive the SCRAM-SHA-256 keys of `password` (SASLprep'd as PostgreSQL does). */
export function deriveScramKeys(
  password: string,
  salt: Buffer,
  iterations: number,
): { clientKey: Buffer; storedKey: Buffer; serverKey: Buffer } {
  return keysFromSalted(pbkdf2Sync(scramPasswordBytes(password), salt, iterations, KEY_LENGTH, 'sha256'));
}

/**
 * Upstream salts are fixed per role, so each new upstream connection would redo the same PBKDF2
 * (milliseconds of blocked event loop). Keep the few recent results, keyed by a hash of the inputs.
 */
const saltedCache = new Map<string, Buffer>();
const SALTED_CACHE_SIZE = 64;

function cachedSaltedPassword(password: string, salt: Buffer, iterations: number): Buffer {
  const bytes = scramPasswordBytes(password);
  const key = createHash('sha256')
    .update(bytes)
    .update('\0')
    .update(salt)
    .update(`\0${iterations}`)
    .digest('base64');
  let salted = saltedCache.get(key);
  if (!salted) {
    salted = pbkdf2Sync(bytes, salt, iterations, KEY_LENGTH, 'sha256');
    if (saltedCache.size >= SALTED_CACHE_SIZE) saltedCache.delete(saltedCache.keys().next().value!);
    saltedCache.set(key, salted);
  }
  return salted;
}

const BASE64 = /^(?:[A-Za-z0-9+/]{4})*(?:[A-Za-z0-9+/]{2}==|[A-Za-z0-9+/]{3}=)?$/;

/** Strict base64 (Buffer.from silently skips junk, which would hide malformed input). */
export function decodeBase64Strict(value: string, what: string): Buffer {
  if (!BASE64.test(value)) throw new ScramError(`malformed SCRAM message: ${what} is not valid base64`);
  return Buffer.from(value, 'base64');
}

/** RFC 5802 section 7 `printable`: %x21-2B / %x2D-7E (no comma). */
const PRINTABLE = /^[\x21-\x2b\x2d-\x7e]+$/;

function makeNonce(): string {
  return randomBytes(RAW_NONCE_LENGTH).toString('base64');
}

/** Reads `x=value` attributes in order from a comma-separated SCRAM message (RFC 5802 section 5.1). */
class AttributeReader {
  private pos = 0;
  constructor(readonly text: string) {}

  get done(): boolean {
    return this.pos >= this.text.length;
  }

  peekName(): string | undefined {
    return this.text[this.pos];
  }

  /** The value of the next attribute, which must be `name`. */
  read(name: string): string {
    if (this.text[this.pos] !== name || this.text[this.pos + 1] !== '=') {
      throw new ScramError(`malformed SCRAM message: expected attribute "${name}"`);
    }
    return this.readAny().value;
  }

  /** Any next attribute (an extension we skip); a valid name is one ASCII letter. */
  readAny(): { name: string; value: string } {
    const name = this.text[this.pos];
    if (!/^[A-Za-z]$/.test(name ?? '') || this.text[this.pos + 1] !== '=') {
      throw new ScramError('malformed SCRAM message: expected an attribute');
    }
    let end = this.text.indexOf(',', this.pos);
    if (end < 0) end = this.text.length;
    const value = this.text.slice(this.pos + 2, end);
    this.pos = end + 1;
    if (end === this.text.length - 1) throw new ScramError('malformed SCRAM message: trailing comma');
    return { name, value };
  }
}

/** Latin-1 maps bytes 1:1 to chars, so slices of the text re-encode to the exact bytes received. */
function messageText(msg: Buffer): string {
  if (msg.length > MAX_MESSAGE_LENGTH) throw new ScramError('malformed SCRAM message: too long');
  if (msg.length === 0) throw new ScramError('malformed SCRAM message: empty');
  if (msg.includes(0)) throw new ScramError('malformed SCRAM message: contains a NUL byte');
  return msg.toString('latin1');
}

type ServerState = 'await-client-first' | 'await-client-final' | 'done';

/**
 * Server side, authenticating a dbtape user against their stored verifier. With a null verifier
 * (unknown user) the exchange looks the same on the wire, costs the same work, and fails at the end,
 * as PostgreSQL's "mock authentication" does, so user names cannot be probed.
 */
export class ScramServer {
  private state: ServerState = 'await-client-first';
  private readonly secret: ScramSecret;
  private readonly real: boolean;
  private readonly serverNonce: string;
  private readonly binding: Buffer | null;
  private readonly mechanism: string;
  private gs2Header = '';
  /** What client-final's `c=` must hold: the GS2 header, then the binding data if it asked for binding. */
  private expectedCbind: Buffer = Buffer.alloc(0);
  private clientFirstBare = '';
  private serverFirstMsg = '';
  private nonce = '';

  /**
   * `channelBinding`: this connection's tls-server-end-point data when it is TLS with a certificate
   * that has one; SCRAM-SHA-256-PLUS was then offered (scramMechanisms). `mechanism`: the one the
   * client chose in its SASLInitialResponse, which must be among those offered.
   */
  constructor(
    verifier: ScramSecret | null,
    opts: {
      mockSecret: Buffer;
      username: string;
      mockIterations?: number;
      nonce?: string;
      channelBinding?: Buffer | null;
      mechanism?: string;
    },
  ) {
    this.real = verifier !== null;
    this.secret = verifier ?? mockVerifier(opts.mockSecret, opts.username, opts.mockIterations);
    this.serverNonce = opts.nonce ?? makeNonce();
    this.binding = opts.channelBinding ?? null;
    this.mechanism = opts.mechanism ?? SCRAM_MECHANISM;
    if (!scramMechanisms(this.binding).includes(this.mechanism)) {
      throw new ScramError('client selected an invalid SASL authentication mechanism');
    }
  }

  /** Handle client-first-message (SASLInitialResponse data); returns server-first-message. */
  clientFirst(msg: Buffer): Buffer {
    if (this.state !== 'await-client-first') throw new ScramError('unexpected SCRAM client-first-message');
    this.state = 'done';
    const text = messageText(msg);
    this.gs2Header = this.readGs2Header(text);
    this.clientFirstBare = text.slice(this.gs2Header.length);
    const attrs = new AttributeReader(this.clientFirstBare);
    if (attrs.peekName() === 'm') throw new ScramError('unsupported SCRAM extension: mandatory extension');
    // PostgreSQL ignores this user name: the one from the startup packet counts (protocol docs, 53.3.1).
    attrs.read('n');
    const clientNonce = attrs.read('r');
    if (!PRINTABLE.test(clientNonce)) throw new ScramError('malformed SCRAM message: invalid client nonce');
    while (!attrs.done) attrs.readAny();
    this.nonce = clientNonce + this.serverNonce;
    const { salt, iterations } = this.secret;
    this.serverFirstMsg = `r=${this.nonce},s=${salt.toString('base64')},i=${iterations}`;
    this.state = 'await-client-final';
    return Buffer.from(this.serverFirstMsg, 'latin1');
  }

  /** Handle client-final-message (SASLResponse data): the proof decides. */
  clientFinal(msg: Buffer): { ok: true; serverFinal: Buffer } | { ok: false } {
    if (this.state !== 'await-client-final') throw new ScramError('unexpected SCRAM client-final-message');
    this.state = 'done';
    const text = messageText(msg);
    const proofAt = text.lastIndexOf(',p=');
    if (proofAt < 0) throw new ScramError('malformed SCRAM message: missing proof');
    const withoutProof = text.slice(0, proofAt);
    const attrs = new AttributeReader(withoutProof);
    const cbind = decodeBase64Strict(attrs.read('c'), 'channel binding');
    if (!cbind.equals(this.expectedCbind)) throw new ScramError('SCRAM channel binding check failed');
    if (attrs.read('r') !== this.nonce) throw new ScramError('SCRAM nonce mismatch');
    while (!attrs.done) attrs.readAny();
    const proof = decodeBase64Strict(text.slice(proofAt + 3), 'proof');
    if (proof.length !== KEY_LENGTH) throw new ScramError('malformed SCRAM message: invalid proof length');

    const authMessage = `${this.clientFirstBare},${this.serverFirstMsg},${withoutProof}`;
    const clientSignature = hmac(this.secret.storedKey, authMessage);
    const clientKey = xor(proof, clientSignature);
    // Always compare, even for the mock secret, so both paths cost the same (RFC 5802 section 9).
    const match = timingSafeEqual(sha256(clientKey), this.secret.storedKey);
    if (!match || !this.real) return { ok: false };
    const serverSignature = hmac(this.secret.serverKey, authMessage);
    return { ok: true, serverFinal: Buffer.from(`v=${serverSignature.toString('base64')}`, 'latin1') };
  }

  /**
   * RFC 5802 section 7 gs2-header: `n,,`, `y,,` or `p=tls-server-end-point,,` (no authzid), checked
   * against the mechanism the client chose, as PostgreSQL's read_client_first_message does.
   */
  private readGs2Header(text: string): string {
    const flag = text[0];
    let at: number;
    if (flag === 'p') {
      if (this.mechanism !== SCRAM_PLUS_MECHANISM) {
        throw new ScramError(
          'the client selected SCRAM-SHA-256 without channel binding, but its message asks for channel binding',
        );
      }
      if (text[1] !== '=') throw new ScramError('malformed SCRAM message: invalid GS2 header');
      at = text.indexOf(',', 2);
      const type = at < 0 ? text.slice(2) : text.slice(2, at);
      if (type !== CHANNEL_BINDING_TYPE) {
        throw new ScramError(`unsupported SCRAM channel-binding type "${type.slice(0, 32)}"`);
      }
    } else if (flag === 'n' || flag === 'y') {
      if (this.mechanism === SCRAM_PLUS_MECHANISM) {
        throw new ScramError(
          'the client selected SCRAM-SHA-256-PLUS, but its message carries no channel binding',
        );
      }
      // The client could bind but was not offered it; this connection was: someone in between
      // may have taken the offer out (RFC 5802 section 6).
      if (flag === 'y' && this.binding) {
        throw new ScramError(
          'SCRAM channel binding negotiation error: the client supports channel binding but thinks the server does not, and this server does',
        );
      }
      at = 1;
      if (text[1] !== ',') throw new ScramError('malformed SCRAM message: invalid GS2 header');
    } else {
      throw new ScramError('malformed SCRAM message: invalid GS2 header');
    }
    if (text[at + 1] === 'a') throw new ScramError('SCRAM authorization identity is not supported');
    if (text[at + 1] !== ',') throw new ScramError('malformed SCRAM message: invalid GS2 header');
    const header = text.slice(0, at + 2);
    const headerBytes = Buffer.from(header, 'latin1');
    this.expectedCbind = flag === 'p' ? Buffer.concat([headerBytes, this.binding!]) : headerBytes;
    return header;
  }
}

/** What a server offers in AuthenticationSASL: with binding data (TLS), PLUS first, as PostgreSQL does. */
export function scramMechanisms(channelBinding: Buffer | null): string[] {
  return channelBinding ? [SCRAM_PLUS_MECHANISM, SCRAM_MECHANISM] : [SCRAM_MECHANISM];
}

/**
 * A deterministic fake secret per unknown user name: the same salt on every attempt (a random one
 * would reveal that the user does not exist), derived from a per-process secret so it is unguessable.
 */
function mockVerifier(secret: Buffer, username: string, iterations = SCRAM_DEFAULT_ITERATIONS): ScramSecret {
  const derive = (label: string) => hmac(secret, `${label}\0${username}`);
  return {
    iterations,
    salt: derive('salt').subarray(0, SCRAM_SALT_LENGTH),
    storedKey: derive('stored-key'),
    serverKey: derive('server-key'),
  };
}

type ClientState = 'initial' | 'await-server-first' | 'await-server-final' | 'done';

/**
 * How an upstream exchange uses channel binding: `bound` to the certificate the server presented
 * (it offered SCRAM-SHA-256-PLUS), `unoffered` when dbtape could bind (TLS) but the server did not
 * offer it (sent as `y`, so a server that does support it knows the offer was taken out), `none`
 * without TLS.
 */
export type ClientBinding =
  | { readonly kind: 'bound'; readonly data: Buffer }
  | { readonly kind: 'unoffered' }
  | { readonly kind: 'none' };

/** Client side, for authenticating to an upstream PostgreSQL with injected credentials. */
export class ScramClient {
  private state: ClientState = 'initial';
  private readonly clientNonce: string;
  private clientFirstBare = '';
  private expectedServerSignature: Buffer | null = null;

  private readonly username: string;
  private readonly gs2Header: string;
  /** client-final's `c=`: the GS2 header, then the binding data when bound. */
  private readonly cbind: string;
  /** The mechanism to name in SASLInitialResponse. */
  readonly mechanism: string;
  /** The exchange is bound to the server's certificate (SCRAM-SHA-256-PLUS). */
  readonly bound: boolean;

  /**
   * `username` defaults to empty, as libpq sends it: PostgreSQL takes the user from the startup
   * packet. `nonce` and `username` are there for the RFC 7677 test vector.
   */
  constructor(
    private readonly password: string,
    opts: { nonce?: string; username?: string; binding?: ClientBinding } = {},
  ) {
    this.clientNonce = opts.nonce ?? makeNonce();
    // RFC 5802 section 5.1 saslname: ',' and '=' are escaped.
    const escaped = (opts.username ?? '').replace(/=/g, '=3D').replace(/,/g, '=2C');
    this.username = Buffer.from(escaped, 'utf8').toString('latin1');
    const binding = opts.binding ?? { kind: 'none' };
    this.gs2Header =
      binding.kind === 'bound' ? `p=${CHANNEL_BINDING_TYPE},,` : binding.kind === 'unoffered' ? 'y,,' : 'n,,';
    const header = Buffer.from(this.gs2Header, 'latin1');
    this.cbind = (binding.kind === 'bound' ? Buffer.concat([header, binding.data]) : header).toString(
      'base64',
    );
    this.mechanism = binding.kind === 'bound' ? SCRAM_PLUS_MECHANISM : SCRAM_MECHANISM;
    this.bound = binding.kind === 'bound';
  }

  /** client-first-message: `<gs2-header>n=,r=<nonce>`. */
  clientFirst(): Buffer {
    if (this.state !== 'initial') throw new ScramError('SCRAM client-first-message already sent');
    this.state = 'await-server-first';
    this.clientFirstBare = `n=${this.username},r=${this.clientNonce}`;
    return Buffer.from(`${this.gs2Header}${this.clientFirstBare}`, 'latin1');
  }

  /** Handle server-first-message (AuthenticationSASLContinue data); returns client-final-message. */
  serverFirst(msg: Buffer): Buffer {
    if (this.state !== 'await-server-first') throw new ScramError('unexpected SCRAM server-first-message');
    this.state = 'done';
    const text = messageText(msg);
    const attrs = new AttributeReader(text);
    if (attrs.peekName() === 'm') throw new ScramError('unsupported SCRAM extension: mandatory extension');
    const nonce = attrs.read('r');
    if (!nonce.startsWith(this.clientNonce) || nonce.length === this.clientNonce.length) {
      throw new ScramError('SCRAM server nonce does not extend the client nonce');
    }
    if (!PRINTABLE.test(nonce)) throw new ScramError('malformed SCRAM message: invalid server nonce');
    const salt = decodeBase64Strict(attrs.read('s'), 'salt');
    if (salt.length === 0) throw new ScramError('malformed SCRAM message: empty salt');
    const iterations = parseIterations(attrs.read('i'));
    while (!attrs.done) attrs.readAny();

    const { clientKey, storedKey, serverKey } = keysFromSalted(
      cachedSaltedPassword(this.password, salt, iterations),
    );
    const withoutProof = `c=${this.cbind},r=${nonce}`;
    const authMessage = `${this.clientFirstBare},${text},${withoutProof}`;
    const proof = xor(clientKey, hmac(storedKey, authMessage));
    this.expectedServerSignature = hmac(serverKey, authMessage);
    this.state = 'await-server-final';
    return Buffer.from(`${withoutProof},p=${proof.toString('base64')}`, 'latin1');
  }

  /** Check server-final-message (AuthenticationSASLFinal data): the server must prove it knows the key. */
  serverFinal(msg: Buffer): void {
    if (this.state !== 'await-server-final') throw new ScramError('unexpected SCRAM server-final-message');
    this.state = 'done';
    const text = messageText(msg);
    if (text.startsWith('e=')) {
      throw new ScramError(`SCRAM authentication failed upstream: ${text.slice(2).split(',')[0]}`);
    }
    const attrs = new AttributeReader(text);
    const signature = decodeBase64Strict(attrs.read('v'), 'server signature');
    const expected = this.expectedServerSignature!;
    if (signature.length !== expected.length || !timingSafeEqual(signature, expected)) {
      throw new ScramError(
        'SCRAM server signature mismatch: the upstream server could not prove the password',
      );
    }
  }
}

function parseIterations(value: string): number {
  const n = /^[0-9]{1,7}$/.test(value) ? Number(value) : Number.NaN;
  if (!(n >= 1 && n <= MAX_ITERATIONS)) {
    throw new ScramError('malformed SCRAM message: invalid iteration count');
  }
  return n;
}
