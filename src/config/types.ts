import type { Role, Target, User } from '../model/identity.js';
import type { CaptureMode } from '../model/recorder.js';

/** host:port pair a listener binds to. */
export interface ListenAddress {
  readonly host: string;
  readonly port: number;
}

/** An address or CIDR range (`http.trusted_proxies`); a single address has the full prefix. */
export interface AddressRange {
  readonly family: 'ipv4' | 'ipv6';
  readonly address: string;
  readonly prefix: number;
}

/**
 * The request header a trusted proxy names the client in (`http.forwarded_header`). One, never
 * either: a proxy that writes one passes the other through as the client sent it.
 */
export type ForwardedHeader = 'x-forwarded-for' | 'forwarded';

/** The validated, resolved configuration: defaults applied, secrets read, paths absolute. */
export interface Config {
  /** Absolute path of the file it came from, or '<demo>' for generated configs. */
  readonly source: string;
  readonly listen: {
    readonly postgres: ListenAddress | null;
    readonly mysql: ListenAddress | null;
    readonly http: ListenAddress | null;
  };
  readonly tls: {
    readonly certFile: string | null;
    readonly keyFile: string | null;
    /** Refuse clients that do not use TLS. */
    readonly require: boolean;
  };
  /** The dashboard's place on the web: behind a reverse proxy, and the host names it answers to. */
  readonly http: {
    /** Origin users open the dashboard at (`https://dbtape.example.com`), or null. */
    readonly publicUrl: string | null;
    /** Peers whose forwarded-for header is believed. */
    readonly trustedProxies: readonly AddressRange[];
    /** Which header that is. */
    readonly forwardedHeader: ForwardedHeader;
    /** Host names (lower case, no port) accepted in the Host header besides localhost and public_url's. */
    readonly allowedHosts: readonly string[];
  };
  readonly limits: {
    readonly maxClientConnections: number;
    /** Milliseconds from TCP accept to the end of authentication. */
    readonly authTimeoutMs: number;
    /** Largest single protocol message accepted from a client, in bytes. */
    readonly maxMessageSize: number;
    /** Milliseconds to wait for an upstream TCP/TLS connection and its authentication. */
    readonly connectTimeoutMs: number;
  };
  readonly store: {
    /** False: nothing is recorded and no store is opened. */
    readonly record: boolean;
    readonly url: string;
    readonly durability: 'fast' | 'strict';
    readonly captureResults: CaptureMode;
    readonly maxRows: number;
    readonly encryptionKeyFile: string | null;
    /** Checkpoint signing key (Ed25519 PEM); null: no signed checkpoints. */
    readonly signingKeyFile: string | null;
    /** Milliseconds between signed checkpoints. */
    readonly checkpointIntervalMs: number;
  };
  readonly targets: readonly Target[];
  readonly users: readonly User[];
  readonly roles: readonly Role[];
  readonly log: {
    readonly level: 'debug' | 'info' | 'warn' | 'error';
  };
}
