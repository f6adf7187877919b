/**
 * The built dashboard (scripts/build-web.mjs writes it to dist/web-ui): read into memory at start,
 * served with ETags. Every path that is not an API route gets index.html, so that links such as
 * /sessions/<id>#seq=12 open the single-page app at that view.
 */
import { createHash } from 'node:crypto';
import { existsSync, readdirSync, readFileSync, statSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import type { Hono } from 'hono';
import type { WebEnv } from './env.js';

interface Asset {
  readonly body: Buffer;
  readonly type: string;
  readonly etag: string;
}

const TYPES: Record<string, string> = {
  '.html': 'text/html; charset=utf-8',
  '.js': 'text/javascript; charset=utf-8',
  '.css': 'text/css; charset=utf-8',
  '.svg': 'image/svg+xml',
  '.png': 'image/png',
  '.map': 'application/json; charset=utf-8',
  '.txt': 'text/plain; charset=utf-8',
};

/** dist/web-ui of this package, from src/web/ (tsx) and from dist/web/ (compiled) alike. */
export function defaultAssetsDir(): string {
  return fileURLToPath(new URL('../../dist/web-ui/', import.meta.url));
}

const NOT_BUILT = `<!doctype html><meta charset="utf-8"><title>dbtape</title>
<p>dbtape: the dashboard is not built. Run <code>npm run build</code> in the dbtape folder and restart.</p>`;

export function loadAssets(dir: string): Map<string, Asset> {
  const out = new Map<string, Asset>();
  if (!existsSync(dir)) return out;
  const walk = (folder: string, prefix: string) => {
    for (const name of readdirSync(folder)) {
      const file = path.join(folder, name);
      if (statSync(file).isDirectory()) walk(file, `${prefix}${name}/`);
      else {
        const body = readFileSync(file);
        const type = TYPES[path.extname(name)] ?? 'application/octet-stream';
        const etag = `"${createHash('sha256').update(body).digest('base64url').slice(0, 22)}"`;
        out.set(`/${prefix}${name}`, { body, type, etag });
      }
    }
  };
  walk(dir, '');
  return out;
}

export function staticRoutes(app: Hono<WebEnv>, assets: Map<string, Asset>): void {
  const index = assets.get('/index.html');
  app.get('*', (c) => {
    const p = c.req.path;
    if (p.startsWith('/api/'))
      return c.json({ error: { code: 'DBTAPE_NOT_FOUND', message: 'dbtape: no such API route' } }, 404);
    const asset = p.startsWith('/assets/') || p === '/favicon.svg' ? assets.get(p) : index;
    if (!asset) {
      if (!index) return c.html(NOT_BUILT, 503);
      return c.text('dbtape: not found', 404);
    }
    c.header('Cache-Control', 'no-cache');
    c.header('ETag', asset.etag);
    if (c.req.header('if-none-match') === asset.etag) return c.body(null, 304);
    c.header('Content-Type', asset.type);
    return c.body(new Uint8Array(asset.body));
  });
}
