/** File references in the config: resolved against the config file's folder, checked for readability. */
import { accessSync, constants, readFileSync, statSync } from 'node:fs';
import { isAbsolute, resolve } from 'node:path';
import type { IssueList, KeyPath } from './errors.js';

export interface FileContext {
  /** Folder of the config file: relative paths in it are relative to it, not to the working directory. */
  readonly baseDir: string;
  readonly issues: IssueList;
}

export function resolvePath(ctx: FileContext, p: string): string {
  return isAbsolute(p) ? p : resolve(ctx.baseDir, p);
}

/** The absolute path of a file that must exist and be readable now, or null after recording why not. */
export function existingFile(ctx: FileContext, p: string, path: KeyPath): string | null {
  const abs = resolvePath(ctx, p);
  try {
    if (!statSync(abs).isFile()) {
      ctx.issues.add(path, `${abs} is not a file`);
      return null;
    }
    accessSync(abs, constants.R_OK);
    return abs;
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    ctx.issues.add(
      path,
      code === 'ENOENT' ? `file not found: ${abs}` : `cannot read ${abs} (${code ?? err})`,
    );
    return null;
  }
}

/** A secret held in a file: its content less one trailing newline. Errors never include the content. */
export function readSecretFile(ctx: FileContext, p: string, path: KeyPath): string | null {
  const abs = existingFile(ctx, p, path);
  if (abs === null) return null;
  const text = readFileSync(abs, 'utf8').replace(/\r?\n$/, '');
  if (text.length === 0) {
    ctx.issues.add(path, `${abs} is empty`);
    return null;
  }
  return text;
}
