/**
 * The README documents every CLI command, every option and every config key (a standard of the
 * project: users read the README, not the source). The lists come from the program and the schema
 * themselves, so a new option or key without its line in the README fails here.
 */
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { resolve } from 'node:path';
import { describe, test } from 'node:test';
import type { Command } from 'commander';
import { createProgram } from '../../src/cli/main.js';
import { KNOWN_KEYS } from '../../src/config/schema.js';

const root = resolve(import.meta.dirname, '../..');
const readme = readFileSync(resolve(root, 'README.md'), 'utf8');
const policyDoc = readFileSync(resolve(root, 'docs/policy.md'), 'utf8');

/** The text from a `## `/`### ` heading line that contains `heading` up to the next heading of that level or above. */
function section(text: string, heading: string): string {
  const lines = text.split('\n');
  const start = lines.findIndex((l) => /^#{2,3} /.test(l) && l.includes(heading));
  assert.ok(start >= 0, `README.md has no section headed ${heading}`);
  const level = /^#+/.exec(lines[start]!)![0].length;
  let end = lines.length;
  for (let i = start + 1; i < lines.length; i++) {
    const m = /^(#+) /.exec(lines[i]!);
    if (m && m[1]!.length <= level) {
      end = i;
      break;
    }
  }
  return lines.slice(start, end).join('\n');
}

/** Every command of the program with its path from the root: [['serve'], ['keys', 'generate'], ...]. */
function commands(cmd: Command, path: string[] = []): { path: string[]; cmd: Command }[] {
  return cmd.commands.flatMap((c) => {
    const p = [...path, c.name()];
    return c.commands.length > 0 ? commands(c, p) : [{ path: p, cmd: c }];
  });
}

describe('README: commands', () => {
  const table = section(readme, '## Commands');
  // One table row per command.
  const rows = table.split('\n').filter((l) => l.startsWith('| `dbtape '));
  const readCommands = [
    .../Read commands \(([^)]*)\) take `--store URL`/.exec(table)![1]!.matchAll(/`(\w+)`/g),
  ].map((m) => m[1]!);
  for (const { path, cmd } of commands(createProgram())) {
    const name = `dbtape ${path.join(' ')}`;
    test(name, () => {
      const row = rows.find((r) => r.includes(`\`${name}`));
      assert.ok(row, `the Commands table has no row for \`${name}\``);
      for (const opt of cmd.options) {
        if (opt.hidden) continue;
        const flag = opt.long ?? opt.short!;
        const documented =
          row.includes(`${flag} `) ||
          row.includes(`${flag}\``) ||
          row.includes(`${flag}]`) ||
          (opt.short !== undefined && row.includes(`${opt.short} `)) ||
          // `-c FILE` and `--store URL` of the read commands are described once, above the table.
          (flag === '--config' && table.includes('-c FILE')) ||
          (flag === '--store' && readCommands.includes(path[0]!));
        assert.ok(documented, `the row of \`${name}\` does not mention ${flag}`);
      }
    });
  }
});

describe('README: config keys', () => {
  const config = section(readme, '## Configuration');
  for (const [path, keys] of Object.entries(KNOWN_KEYS)) {
    for (const key of keys) {
      const name = path === '' ? key : `${path}.${key}`;
      test(name, () => {
        if (path === '') {
          // Top-level keys are the sections: ### `listen`, ### `targets[]` (lists end in []).
          assert.match(config, new RegExp(`^### \`${key}(\\[\\])?\``, 'm'), `no section for \`${key}\``);
        } else if (!path.includes('[]')) {
          assert.ok(config.includes(`| \`${name}\` |`), `no table row for \`${name}\``);
        } else if (path.endsWith('[]')) {
          const list = section(readme, `### \`${path}\``);
          assert.ok(list.includes(`| \`${key}\` |`), `the ${path} table has no row for \`${key}\``);
        } else {
          // roles[].rules and roles[].masking: named in the roles table, explained in docs/policy.md.
          const roles = section(readme, '### `roles[]`');
          assert.ok(roles.includes(`\`${key}\``), `the roles[] table does not name \`${key}\``);
          assert.match(policyDoc, new RegExp(`[\`.]${key}\``), `docs/policy.md does not explain \`${key}\``);
        }
      });
    }
  }
});
