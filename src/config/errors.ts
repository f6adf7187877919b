/** Config errors: every problem names the file, the key path (`targets[1].port`) and what is wrong. */

export type KeyPath = readonly (string | number)[];

export interface ConfigIssue {
  /** Where in the file; empty for problems with the file as a whole. */
  readonly path: KeyPath;
  readonly message: string;
}

const IDENTIFIER = /^[A-Za-z_][A-Za-z0-9_-]*$/;

/** ['targets', 1, 'port'] -> 'targets[1].port'. */
export function formatKeyPath(path: KeyPath): string {
  let out = '';
  for (const part of path) {
    if (typeof part === 'number') out += `[${part}]`;
    else if (IDENTIFIER.test(part)) out += out === '' ? part : `.${part}`;
    else out += `[${JSON.stringify(part)}]`;
  }
  return out;
}

export class ConfigError extends Error {
  readonly code = 'DBTAPE_CONFIG';
  override name = 'ConfigError';

  /** `file` as the user named it, so the message matches what they typed. */
  constructor(
    readonly file: string,
    readonly issues: readonly ConfigIssue[],
  ) {
    super(
      issues
        .map((i) =>
          i.path.length > 0 ? `${file}: ${formatKeyPath(i.path)}: ${i.message}` : `${file}: ${i.message}`,
        )
        .join('\n'),
    );
  }

  /** The first problem's key path, e.g. 'targets[1].port' ('' for whole-file problems). */
  get keyPath(): string {
    return formatKeyPath(this.issues[0]?.path ?? []);
  }
}

/** Collects problems so one run of the loader reports all of them, not just the first. */
export class IssueList {
  readonly issues: ConfigIssue[] = [];

  add(path: KeyPath, message: string): void {
    this.issues.push({ path, message });
  }

  get empty(): boolean {
    return this.issues.length === 0;
  }

  throwIfAny(file: string): void {
    if (!this.empty) throw new ConfigError(file, this.issues);
  }
}

function editDistance(a: string, b: string): number {
  let prev = Array.from({ length: b.length + 1 }, (_, j) => j);
  for (let i = 1; i <= a.length; i++) {
    const cur = [i];
    for (let j = 1; j <= b.length; j++) {
      cur[j] = Math.min(prev[j] + 1, cur[j - 1] + 1, prev[j - 1] + (a[i - 1] === b[j - 1] ? 0 : 1));
    }
    prev = cur;
  }
  return prev[b.length];
}

/** The known key closest to a mistyped one, when it is close enough to be the likely intent. */
export function closestKey(key: string, known: readonly string[]): string | null {
  let best: string | null = null;
  let bestDistance = Math.max(2, Math.floor(key.length / 3)) + 1;
  for (const k of known) {
    const d = editDistance(key.toLowerCase(), k);
    if (d < bestDistance) {
      best = k;
      bestDistance = d;
    }
  }
  return best;
}
