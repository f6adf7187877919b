/**
 * `dbtape verify [ID | --all]`: checks recordings' integrity (integrity/verify.ts) and prints each
 * problem with its session, sequence number and kind of damage. Exit 0: nothing wrong; 1: damage
 * found (or the check could not run); 2: usage.
 *
 * Signatures count only if made by a trusted key: --public-key FILE, or the config's
 * store.signing_key_file. Without either, verify falls back to the keys recorded in the store
 * and says that this proves little.
 */
import { existsSync } from 'node:fs';
import type { Command } from 'commander';
import type { Config } from '../../config/types.js';
import type { Finding } from '../../integrity/findings.js';
import { type Keyring, loadKeyring } from '../../integrity/keyring.js';
import { loadTrustedKey, type TrustedKey } from '../../integrity/signing-key.js';
import { type VerifyReport, verifyStore } from '../../integrity/verify.js';
import { createProgress } from '../../replay/progress.js';
import { safeLine } from '../../replay/session-renderer.js';
import { isoFromUs } from '../../store/json.js';
import { openStore, sqlitePathFromUrl } from '../../store/open-store.js';
import { CliError, columns } from '../output.js';
import {
  addStoreOptions,
  findSession,
  readCommandConfig,
  type StoreOptions,
  storeUrlFrom,
} from '../store-option.js';

interface VerifyOptions extends StoreOptions {
  readonly all?: boolean;
  readonly publicKey?: string[];
  readonly json?: boolean;
}

export function registerVerify(program: Command): void {
  const cmd = program
    .command('verify')
    .description("check recordings' integrity: hash chains, seals and signed checkpoints")
    .argument('[id]', 'the session to check (its id, or a unique prefix of it); without it, the whole store')
    .option('--all', 'check the whole store: every session, and that none is missing (the default)')
    .option(
      '--public-key <file>',
      'trust checkpoints signed by this key (PEM; repeat for several); default: store.signing_key_file of the config',
      (v: string, prev: string[] = []) => [...prev, v],
    )
    .option('--json', 'print the result as JSON');
  addStoreOptions(cmd).action((id: string | undefined, opts: VerifyOptions) => runVerify(id, opts));
}

async function runVerify(id: string | undefined, opts: VerifyOptions): Promise<void> {
  // SPEC.md: `verify [ID | --all]`; with neither, the whole store is what a user wants checked.
  if (id !== undefined && opts.all) throw new CliError('give a session ID or --all, not both', 2);
  const { url, from } = storeUrlFrom(opts);
  const config = readCommandConfig(opts);
  const trustedKeys = trustedKeysFrom(opts, config);
  const keyring = keyringFrom(config);
  if (/^sqlite:/i.test(url) && !/:memory:$/i.test(url)) {
    const path = sqlitePathFromUrl(url);
    if (!existsSync(path)) throw new CliError(`no session store at ${path} (${from})`);
  }
  const store = openStore(url, { readonly: true, keyring });
  try {
    if (!store.integrity) throw new CliError('this store cannot be verified (it keeps no integrity records)');
    const sessionId = id === undefined ? undefined : (await findSession(store, id)).id;
    const progress = { bar: null as ReturnType<typeof createProgress> | null, done: 0 };
    const report = await verifyStore(store.integrity(), {
      sessionId,
      trustedKeys,
      keyring,
      onProgress: !sessionId
        ? (done, total) => {
            progress.bar ??= createProgress({ label: 'verifying', total });
            progress.bar.advance(done - progress.done);
            progress.done = done;
          }
        : undefined,
    });
    progress.bar?.done();
    process.stdout.write(opts.json ? `${JSON.stringify(reportJson(report), null, 2)}\n` : reportText(report));
    if (report.problems > 0) {
      throw new CliError(`verify found ${report.problems} problem${report.problems === 1 ? '' : 's'}`);
    }
  } finally {
    await store.close();
  }
}

function trustedKeysFrom(opts: VerifyOptions, config: Config | null): TrustedKey[] {
  if (opts.publicKey && opts.publicKey.length > 0) return opts.publicKey.map(loadTrustedKey);
  const file = config?.store.signingKeyFile;
  return file ? [loadTrustedKey(file)] : [];
}

function keyringFrom(config: Config | null): Keyring | null {
  const file = config?.store.encryptionKeyFile;
  return file && existsSync(file) ? loadKeyring(file) : null;
}

function reportText(r: VerifyReport): string {
  const lines: string[] = [];
  if (r.findings.length > 0) {
    const rows = [['SESSION', 'SEQ', 'DAMAGE', 'WHAT'], ...r.findings.map(findingRow)];
    lines.push(...columns(rows), '');
  }
  if (r.problems > r.findings.length) {
    lines.push(`(${r.problems - r.findings.length} more problems in the sessions above are not listed)`, '');
  }
  lines.push(summary(r));
  lines.push(...notes(r).map((n) => `note: ${n}`));
  return `${lines.join('\n')}\n`;
}

function findingRow(f: Finding): string[] {
  const where =
    f.session !== null
      ? safeLine(f.session)
      : f.checkpoint !== null
        ? `checkpoint #${f.checkpoint}`
        : '(store)';
  return [where, f.seq === null ? '-' : String(f.seq), f.kind, safeLine(f.detail)];
}

function summary(r: VerifyReport): string {
  const sessions = `${r.sessions} session${r.sessions === 1 ? '' : 's'} (${r.events} events, ${r.sealed} sealed, ${r.open} open)`;
  const last = r.lastCheckpoint
    ? `, last #${r.lastCheckpoint.no} at ${isoFromUs(r.lastCheckpoint.atUs)}, hash ${r.lastCheckpoint.hash.slice(0, 16)}…`
    : '';
  const checkpoints = `${r.checkpoints} signed checkpoint${r.checkpoints === 1 ? '' : 's'}${last}`;
  const verdict =
    r.problems === 0 ? 'no damage found' : `${r.problems} problem${r.problems === 1 ? '' : 's'} found`;
  return `checked ${sessions} and ${checkpoints}: ${verdict}`;
}

function notes(r: VerifyReport): string[] {
  const out: string[] = [];
  if (r.checkpoints === 0) {
    out.push(
      'the store holds no signed checkpoints, so the deletion of whole sessions cannot be proven (with store.signing_key_file set, dbtape serve signs one every store.checkpoint_interval while sessions are recorded, and at shutdown)',
    );
  } else if (r.trust === 'store') {
    out.push(
      'signatures were checked with the public key recorded in the store, which whoever can edit the store can replace: pass --public-key FILE, or -c FILE naming store.signing_key_file',
    );
  }
  if (r.unsigned > 0) {
    out.push(
      `${r.unsigned} session(s) sealed since the last checkpoint are chained and sealed but not signed yet`,
    );
  }
  if (r.legacy > 0)
    out.push(`${r.legacy} session(s) recorded before integrity records existed were not checked`);
  if (r.journaled > 0) {
    out.push(
      `${r.journaled} strict-mode batch(es) are durable in the journal but not yet chained or checked: dbtape serve applies them within 100 ms, or when it starts after a crash`,
    );
  }
  if (r.lastCheckpoint) {
    out.push(
      `compare checkpoint #${r.lastCheckpoint.no} (${r.lastCheckpoint.hash}) with the last one dbtape logged: an older one here means the newest recordings were removed`,
    );
  }
  return out;
}

function reportJson(r: VerifyReport): object {
  return {
    ok: r.problems === 0,
    problems: r.problems,
    sessions: r.sessions,
    events: r.events,
    sealed: r.sealed,
    open: r.open,
    legacy: r.legacy,
    checkpoints: r.checkpoints,
    last_checkpoint: r.lastCheckpoint
      ? { no: r.lastCheckpoint.no, at: isoFromUs(r.lastCheckpoint.atUs), hash: r.lastCheckpoint.hash }
      : null,
    unsigned: r.unsigned,
    journaled: r.journaled,
    trusted_keys: r.trust,
    findings: r.findings.map((f) => ({
      session: f.session,
      seq: f.seq,
      checkpoint: f.checkpoint,
      kind: f.kind,
      detail: f.detail,
    })),
  };
}
