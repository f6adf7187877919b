#!/usr/bin/env node
// Builds the dashboard (web-ui/) into static files that `dbtape serve` ships: index.html, favicon.svg,
// assets/app.js and assets/app.css. Bundled with esbuild; nothing is fetched at run time.
//
//   node scripts/build-web.mjs              into dist/web-ui
//   node scripts/build-web.mjs --out DIR    into DIR (tests build into a temp folder)
import { createHash } from 'node:crypto';
import { copyFileSync, mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { build } from 'esbuild';

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const UI = path.join(ROOT, 'web-ui');

/** Builds into `outdir` (absolute or relative to the repository); returns the files written. */
export async function buildWeb({ outdir = path.join(ROOT, 'dist', 'web-ui'), minify = true } = {}) {
  const out = path.resolve(ROOT, outdir);
  rmSync(out, { recursive: true, force: true });
  mkdirSync(path.join(out, 'assets'), { recursive: true });
  const result = await build({
    absWorkingDir: ROOT,
    entryPoints: { app: path.join(UI, 'src', 'main.tsx') },
    outdir: path.join(out, 'assets'),
    bundle: true,
    format: 'esm',
    platform: 'browser',
    target: ['chrome110', 'firefox115', 'safari16'],
    tsconfig: path.join(UI, 'tsconfig.json'),
    jsx: 'automatic',
    jsxImportSource: 'preact',
    minify,
    sourcemap: 'linked',
    legalComments: 'linked',
    metafile: true,
    logLevel: 'warning',
  });
  const hash = (file) =>
    createHash('sha256')
      .update(readFileSync(path.join(out, 'assets', file)))
      .digest('hex')
      .slice(0, 12);
  const html = readFileSync(path.join(UI, 'index.html'), 'utf8')
    .replace('__JS_HASH__', hash('app.js'))
    .replace('__CSS_HASH__', hash('app.css'));
  writeFileSync(path.join(out, 'index.html'), html);
  copyFileSync(path.join(UI, 'favicon.svg'), path.join(out, 'favicon.svg'));
  return { outdir: out, outputs: Object.keys(result.metafile.outputs) };
}

if (process.argv[1] && path.resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  const i = process.argv.indexOf('--out');
  const outdir = i > 0 ? process.argv[i + 1] : undefined;
  buildWeb(outdir ? { outdir } : {}).then(
    ({ outdir: dir }) =>
      console.log(`build-web: dashboard built into ${path.relative(process.cwd(), dir) || '.'}`),
    (err) => {
      console.error(`build-web: ${err instanceof Error ? err.message : String(err)}`);
      process.exit(1);
    },
  );
}
