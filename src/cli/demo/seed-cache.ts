import { createHash } from 'node:crypto';
import { readdirSync, readFileSync, renameSync, unlinkSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { setFlagsFromString } from 'node:v8';
import { PGlite } from '@electric-sql/pglite';
import type { Logger } from '../../model/logger.js';
import { sampleSchemaSql } from './sample-data.js';

/**
 * Most of the demo's start-up is PGlite running initdb (about 7 s on an idle 2-core machine, several
 * times that under load); opening a saved data folder takes about a second. So the first run saves the
 * freshly made database (initdb + sample data) in the demo folder, and later runs start from it. The
 * file is named for the PGlite version and the sample SQL, so a change of either makes a new one.
 */

const SEED_PREFIX = 'pglite-seed-';

export interface DemoDatabase {
  readonly db: PGlite;
  /** True when it was loaded from a saved seed. */
  readonly fromSeed: boolean;
  /** Save the current database as the seed, if it was not loaded from one. Never throws. */
  saveSeed(): Promise<void>;
}

export async function openDemoDatabase(dir: string, log: Logger): Promise<DemoDatabase> {
  // Compile WebAssembly with V8's baseline compiler only. PGlite's 9 MB module is otherwise also
  // recompiled by the optimising tier while initdb runs, which cost 40% more CPU at start-up on this
  // 2-core machine (measured: 4.7-5.1 s instead of 7.5-9.1 s) and made no difference to the demo's
  // query times. It affects WebAssembly only, and PGlite is the only WebAssembly in dbtape.
  setFlagsFromString('--liftoff-only');
  const schema = sampleSchemaSql();
  const file = join(dir, `${SEED_PREFIX}${pgliteVersion()}-${hash(schema)}.tar.gz`);
  removeOtherSeeds(dir, file);
  const seeded = await loadSeed(file, log);
  if (seeded) return { db: seeded, fromSeed: true, saveSeed: async () => {} };

  // In memory: the demo never changes the seed, and nothing is left to clean up but the file.
  const db = await PGlite.create({ dataDir: 'memory://' });
  await db.exec(schema);
  return { db, fromSeed: false, saveSeed: () => saveSeed(db, file, log) };
}

async function loadSeed(file: string, log: Logger): Promise<PGlite | null> {
  let bytes: Buffer;
  try {
    bytes = readFileSync(file);
  } catch {
    return null;
  }
  let db: PGlite | null = null;
  try {
    db = await PGlite.create({ dataDir: 'memory://', loadDataDir: new Blob([new Uint8Array(bytes)]) });
    await db.query('select count(*) from customers');
    return db;
  } catch (err) {
    log.warn({ file, err: (err as Error).message }, 'the saved demo database is unusable; making a new one');
    await db?.close().catch(() => {});
    removeQuietly(file);
    return null;
  }
}

async function saveSeed(db: PGlite, file: string, log: Logger): Promise<void> {
  const tmp = `${file}.${process.pid}.tmp`;
  try {
    const dump = await db.dumpDataDir('gzip');
    writeFileSync(tmp, Buffer.from(await dump.arrayBuffer()));
    renameSync(tmp, file); // whole or absent: a run stopped mid-save leaves only the .tmp
  } catch (err) {
    removeQuietly(tmp);
    log.warn({ err: (err as Error).message }, 'could not save the demo database for faster starts');
  }
}

/** Seeds of other PGlite versions or sample data, and .tmp files of interrupted saves. */
function removeOtherSeeds(dir: string, keep: string): void {
  let names: string[];
  try {
    names = readdirSync(dir);
  } catch {
    return;
  }
  for (const name of names) {
    const path = join(dir, name);
    if (name.startsWith(SEED_PREFIX) && path !== keep) removeQuietly(path);
  }
}

function pgliteVersion(): string {
  const require = createRequire(import.meta.url);
  // The package's exports do not include package.json; find it next to the resolved entry point.
  let folder = dirname(require.resolve('@electric-sql/pglite'));
  for (let i = 0; i < 3; i++, folder = dirname(folder)) {
    try {
      const pkg = JSON.parse(readFileSync(join(folder, 'package.json'), 'utf8')) as {
        name?: string;
        version?: string;
      };
      if (pkg.name === '@electric-sql/pglite' && pkg.version) return pkg.version;
    } catch {
      // not this folder
    }
  }
  return 'unknown';
}

function hash(text: string): string {
  return createHash('sha256').update(text).digest('hex').slice(0, 12);
}

function removeQuietly(path: string): void {
  try {
    unlinkSync(path);
  } catch {
    // already gone
  }
}
