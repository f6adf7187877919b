/**
 * `dbtape keys generate`: the checkpoint signing key (Ed25519) and the master encryption keyring,
 * created with mode 0600, never over an existing file.
 * `dbtape keys tls`: a self-signed certificate for the listeners (keys-tls.ts).
 * `dbtape keys rotate`: a new current master key in the keyring file, then every data key of the
 * store re-wrapped under it in one transaction; recordings are not rewritten.
 */
import { existsSync } from 'node:fs';
import { dirname, join, relative } from 'node:path';
import type { Command } from 'commander';
import { loadConfigForReading } from '../../config/load.js';
import type { Config } from '../../config/types.js';
import { createKeyringFile, rotateKeyringFile } from '../../integrity/keyring.js';
import { createSigningKeyFiles } from '../../integrity/signing-key.js';
import { openStore } from '../../store/open-store.js';
import { CliError } from '../output.js';
import { generateTls, type TlsOptions } from './keys-tls.js';

const DEFAULT_CONFIG = 'dbtape.yaml';

interface GenerateOptions {
  readonly config?: string;
  readonly dir?: string;
  readonly only?: 'signing' | 'encryption';
}

interface RotateOptions {
  readonly config?: string;
  readonly store?: string;
  readonly keyFile?: string;
}

export function registerKeys(program: Command): void {
  const keys = program.command('keys').description('make and rotate the keys that protect recordings');
  keys
    .command('generate')
    .description(
      'create the checkpoint signing key and the master encryption keyring (mode 0600; never overwrites)',
    )
    .option(
      '-c, --config <file>',
      'write the files its store.signing_key_file / store.encryption_key_file name',
    )
    .option('--dir <dir>', 'write signing.key, signing.pub and master.key into this folder (default: keys)')
    .option('--only <which>', 'only one of them: signing or encryption', (v) => {
      if (v !== 'signing' && v !== 'encryption') throw new CliError('--only takes signing or encryption', 2);
      return v;
    })
    .action((opts: GenerateOptions) => generate(opts));
  keys
    .command('tls')
    .description(
      'create a self-signed certificate and key for the listeners (tls.cert_file / tls.key_file; never overwrites)',
    )
    .option(
      '-c, --config <file>',
      `write the files its tls: section names (default: ${DEFAULT_CONFIG} if there is one)`,
    )
    .option('--cert <file>', 'certificate file (default: tls.cert_file, or certs/dbtape.crt)')
    .option('--key <file>', 'private key file (default: tls.key_file, or certs/dbtape.key)')
    .option(
      '--name <name...>',
      'more host names or addresses clients connect to (localhost, 127.0.0.1, ::1 and the listen hosts are always in)',
    )
    .option('--days <n>', 'validity in days (default 365)')
    .action((opts: TlsOptions) => generateTls(opts));
  keys
    .command('rotate')
    .description('add a new current master key and re-wrap every data key of the store under it')
    .option('-c, --config <file>', `config naming the keyring and the store (default: ${DEFAULT_CONFIG})`)
    .option('--store <url>', 'session store whose data keys to re-wrap (default: store.url of the config)')
    .option('--key-file <file>', 'the keyring file (default: store.encryption_key_file of the config)')
    .action((opts: RotateOptions) => rotate(opts));
}

function configIfAny(file: string | undefined): Config | null {
  if (file) return loadConfigForReading(file);
  return existsSync(DEFAULT_CONFIG) ? loadConfigForReading(DEFAULT_CONFIG) : null;
}

function generate(opts: GenerateOptions): void {
  const config = opts.dir ? null : configIfAny(opts.config);
  const base = opts.dir ?? (config ? join(dirname(config.source), 'keys') : 'keys');
  const signing = config?.store.signingKeyFile ?? join(base, 'signing.key');
  const publicFile = signing.replace(/(\.key|\.pem)?$/, '.pub');
  const master = config?.store.encryptionKeyFile ?? join(base, 'master.key');
  const wanted = [
    ...(opts.only !== 'encryption' ? [signing, publicFile] : []),
    ...(opts.only !== 'signing' ? [master] : []),
  ];
  const existing = wanted.filter((f) => existsSync(f));
  if (existing.length > 0) {
    throw new CliError(
      `${existing.join(', ')} already exist${existing.length === 1 ? 's' : ''}; dbtape never overwrites key files (nothing was written)`,
    );
  }
  const out: string[] = [];
  if (opts.only !== 'encryption') {
    const id = createSigningKeyFiles(signing, publicFile);
    out.push(`wrote ${signing}: checkpoint signing key (Ed25519, key id ${id}), mode 0600`);
    out.push(
      `wrote ${publicFile}: its public key, for whoever verifies recordings (dbtape verify --public-key)`,
    );
  }
  if (opts.only !== 'signing') {
    const ring = createKeyringFile(master);
    out.push(
      `wrote ${master}: master encryption keyring (AES-256, version 1, fingerprint ${ring.fingerprint(1)}), mode 0600`,
    );
    out.push('back it up somewhere safe: without it, encrypted recordings cannot be read');
  }
  const missing: string[] = [];
  if (opts.only !== 'encryption' && !config?.store.signingKeyFile)
    missing.push(`    signing_key_file: ${shown(signing, config)}`);
  if (opts.only !== 'signing' && !config?.store.encryptionKeyFile)
    missing.push(`    encryption_key_file: ${shown(master, config)}`);
  if (missing.length > 0)
    out.push('', `add to ${config ? config.source : DEFAULT_CONFIG}:`, '  store:', ...missing);
  process.stdout.write(`${out.join('\n')}\n`);
}

/** A path as it would be written in the config: relative to the config's folder. */
function shown(path: string, config: Config | null): string {
  return config ? relative(dirname(config.source), path) || path : path;
}

async function rotate(opts: RotateOptions): Promise<void> {
  const config = configIfAny(opts.config);
  const keyFile = opts.keyFile ?? config?.store.encryptionKeyFile;
  if (!keyFile) {
    throw new CliError(
      'no keyring to rotate: pass --key-file FILE, or -c FILE whose store.encryption_key_file names it',
    );
  }
  const url = opts.store ?? config?.store.url;
  if (!url) throw new CliError('no session store: pass --store URL, or -c FILE');
  // The new key goes into the file first: if re-wrapping fails, the old keys are still there.
  const ring = rotateKeyringFile(keyFile);
  const store = openStore(url, { keyring: ring });
  try {
    const n = store.rewrapKeys ? await store.rewrapKeys(ring) : 0;
    const old = ring.versions.filter((v) => v !== ring.current);
    process.stdout.write(
      [
        `master key version ${ring.current} (fingerprint ${ring.fingerprint(ring.current)}) is now current in ${keyFile}`,
        `re-wrapped ${n} data key${n === 1 ? '' : 's'}; no recording was rewritten`,
        `older version(s) ${old.join(', ')} stay in the file: a dbtape serve still running wraps new sessions with the key it loaded until it restarts, and older backups of the store need them`,
      ].join('\n') + '\n',
    );
  } finally {
    await store.close();
  }
}
