// The dashboard as people use it: headless Chromium (Debian's chromium, driven by playwright-core)
// against dbtape running in this process with real psql sessions through it to the machine's
// PostgreSQL. Screenshots of each page go to test-results/ (DBTAPE_UPDATE_SCREENSHOT=1 also refreshes
// docs/screenshot-player.png for the README).
import assert from 'node:assert/strict';
import { type ChildProcessWithoutNullStreams, spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { copyFileSync, existsSync, mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { after, before, describe, test } from 'node:test';
import { type Browser, type BrowserContext, chromium, type Locator, type Page } from 'playwright-core';
import { stringify } from 'yaml';
import { hashPassword } from '../../src/config/verifiers.js';
import { openStore } from '../../src/store/open-store.js';
import type { SessionStore } from '../../src/store/session-store.js';
import { requirePgBinary } from '../support/binaries.js';
import { envWithoutPg, run } from '../support/exec.js';
import { DEFAULT_TARGET, type InProcessDbtape, startInProcess } from '../support/inproc-dbtape.js';
import { waitFor, withTimeout } from '../support/wait.js';

const CHROMIUM = '/usr/bin/chromium';
const ROOT = path.resolve(import.meta.dirname, '..', '..');
const RESULTS = path.join(ROOT, 'test-results');
const PSQL = requirePgBinary('psql', 'postgresql-client');
const USERS = { ada: 'ada-admin-pw', alice: 'alice-pw', bob: 'bob-pw' } as const;
type UserName = keyof typeof USERS;
/** Unique per run, so that search and the list find this run's sessions only. */
const RUN = randomBytes(4).toString('hex');
const TOKEN = `tok_${RUN}`;
const UI_TIMEOUT = 15_000;

let dir: string;
let store: SessionStore;
let dbtape: InProcessDbtape;
let web: { url: string };
let browser: Browser;
let admin: { context: BrowserContext; page: Page };
const dialogs: string[] = [];

function dsn(user: UserName, application: string): string {
  return `postgresql://${user}@127.0.0.1:${dbtape.port}/app?sslmode=disable&application_name=${application}`;
}

/** Runs a psql script as `user` through dbtape; errors in the script do not stop it. */
async function psqlScript(user: UserName, sql: string, application = 'psql'): Promise<string> {
  const { stdout } = await run(PSQL, ['-X', '-q', '-d', dsn(user, application), '-f', '-'], {
    env: envWithoutPg({ PGPASSWORD: USERS[user] }),
    input: sql,
  });
  return stdout;
}

/** The id of the newest recorded session of `application`, once its end is stored. */
async function sessionOf(application: string): Promise<string> {
  return waitFor(
    async () => {
      const rows = await store.listSessions({ limit: 50 });
      return rows.find((s) => s.application === application && s.status === 'ended')?.id;
    },
    { what: `the recorded session of ${application}` },
  );
}

/** `s` as a regular expression matching it literally. */
function esc2re(s: string): string {
  return s.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
}

/** The element's text content ('' when it has none). */
async function text(l: Locator): Promise<string> {
  return (await l.textContent()) ?? '';
}

async function shot(page: Page, name: string): Promise<string> {
  const file = path.join(RESULTS, `dashboard-${name}.png`);
  await page.screenshot({ path: file, fullPage: true });
  return file;
}

async function signIn(user: UserName): Promise<{ context: BrowserContext; page: Page }> {
  const context = await browser.newContext({ viewport: { width: 1360, height: 900 } });
  const page = await context.newPage();
  page.setDefaultTimeout(UI_TIMEOUT);
  page.on('dialog', (d) => {
    dialogs.push(d.message());
    void d.dismiss();
  });
  await page.goto(`${web.url}/`);
  await page.getByTestId('login-form').waitFor();
  await page.fill('input[name=user]', user);
  await page.fill('input[name=password]', USERS[user]);
  await page.click('button[type=submit]');
  await page.getByTestId('whoami').waitFor();
  return { context, page };
}

before(async () => {
  if (!existsSync(CHROMIUM)) {
    throw new Error(
      `dbtape e2e: ${CHROMIUM} is missing; install Debian's chromium (apt-get install -y chromium)`,
    );
  }
  mkdirSync(RESULTS, { recursive: true });
  dir = mkdtempSync(path.join(os.tmpdir(), 'dbtape-e2e-web-'));
  // The whole of `dbtape serve` in-process (startServer): proxy, recorder, store and dashboard
  // from one config, as a user runs it. npm test builds the dashboard into dist/web-ui first.
  const storeUrl = `sqlite:${path.join(dir, 'store.db')}`;
  const yaml = stringify({
    listen: { postgres: '127.0.0.1:0', http: '127.0.0.1:0' },
    store: { url: storeUrl, capture_results: 'rows', max_rows: 100 },
    targets: [DEFAULT_TARGET],
    users: [
      { name: 'ada', password: hashPassword(USERS.ada), roles: ['admin', 'app-writer'] },
      { name: 'alice', password: hashPassword(USERS.alice), roles: ['app-writer'] },
      { name: 'bob', password: hashPassword(USERS.bob), roles: ['app-writer'] },
    ],
    roles: [{ name: 'app-writer', targets: ['app'], access: 'write' }],
  });
  dbtape = await startInProcess({ yaml });
  const http = dbtape.server.addresses.http;
  if (!http) throw new Error('dbtape e2e: startServer did not start the dashboard on listen.http');
  web = { url: `http://${http}` };
  store = openStore(storeUrl, { readonly: true });
  browser = await chromium.launch({
    executablePath: CHROMIUM,
    headless: true,
    // playwright-core gives each launch a fresh temporary --user-data-dir itself.
    args: [
      '--no-sandbox',
      '--disable-gpu',
      '--disable-quic',
      '--no-first-run',
      '--disable-background-networking',
      '--disable-component-update',
      '--disable-sync',
    ],
  });
});

after(async () => {
  await browser?.close();
  await dbtape?.close();
  await store?.close();
  if (dir) rmSync(dir, { recursive: true, force: true });
});

describe('dashboard', () => {
  let aliceSession: string;

  test('sign in, and the list shows a session made by psql', async () => {
    await psqlScript(
      'alice',
      [
        `select '${TOKEN}' as token;`,
        `select g as n, 'row ' || g as label from generate_series(1, 5) g;`,
        'select 1/0;',
        `select 'the end' as done;`,
      ].join('\n'),
      `e2e-main-${RUN}`,
    );
    aliceSession = await sessionOf(`e2e-main-${RUN}`);

    const context = await browser.newContext({ viewport: { width: 1360, height: 900 } });
    const page = await context.newPage();
    page.setDefaultTimeout(UI_TIMEOUT);
    page.on('dialog', (d) => {
      dialogs.push(d.message());
      void d.dismiss();
    });
    await page.goto(`${web.url}/`);
    await page.getByTestId('login-form').waitFor();
    await page.fill('input[name=user]', 'ada');
    await page.fill('input[name=password]', 'not the password');
    await page.click('button[type=submit]');
    await page.getByTestId('login-error').waitFor();
    assert.match(await text(page.getByTestId('login-error')), /wrong user name or password/i);
    await page.fill('input[name=password]', USERS.ada);
    await shot(page, 'sign-in');
    await page.click('button[type=submit]');
    await page.getByTestId('whoami').waitFor();
    admin = { context, page };

    const row = page.locator(`[data-testid=session-row][data-session-id="${aliceSession}"]`);
    await row.waitFor();
    assert.match(await text(row), /alice/);
    assert.match(await text(row), new RegExp(`e2e-main-${RUN}`));
    assert.equal((await text(row.getByTestId('statement-count'))).trim(), '4');
    await shot(page, 'sessions');
  });

  test('search finds the unique token with a highlighted snippet', async () => {
    const { page } = admin;
    await page.getByTestId('search-input').fill(TOKEN);
    await page.getByTestId('apply-filters').click();
    const hit = page.getByTestId('search-hit').first();
    await hit.waitFor();
    assert.equal(await page.getByTestId('search-hit').count(), 1);
    assert.equal(await text(hit.locator('mark')), TOKEN);
    await shot(page, 'search');
    await hit.click();
    await page.getByTestId('player').waitFor();
    await page.waitForURL(new RegExp(`/sessions/${aliceSession}#seq=2$`));
    assert.match(await text(page.getByTestId('statement-sql')), new RegExp(TOKEN));
  });

  test('a search with no words shows its error alone, not the previous hits', async () => {
    const { page } = admin;
    await page.goto(`${web.url}/?q=${TOKEN}`);
    await page.getByTestId('search-hit').waitFor();
    for (const q of ['!!!', '🙂']) {
      await page.getByTestId('search-input').fill(q);
      await page.getByTestId('apply-filters').click();
      const alert = page.getByRole('alert');
      await alert.waitFor();
      assert.match(await text(alert), /search needs at least one word/);
      assert.equal(await page.getByTestId('search-results').count(), 0, `no hit list under ${q}`);
      assert.equal(await page.getByTestId('search-hit').count(), 0);
      if (q === '🙂') await shot(page, 'search-error');
    }
    // The next good search shows its hits, and the error is gone.
    await page.getByTestId('search-input').fill(TOKEN);
    await page.getByTestId('apply-filters').click();
    await page.getByTestId('search-hit').waitFor();
    assert.equal(await page.getByRole('alert').count(), 0);
    assert.match(
      await text(page.getByTestId('search-results').locator('h2')),
      new RegExp(`1 statement matches ${TOKEN}`),
    );
  });

  test('a slow answer to an earlier search does not replace a later one', async () => {
    const { page } = admin;
    const none = `nothing_${RUN}`;
    await page.goto(`${web.url}/`);
    await page.getByTestId('sessions-table').waitFor();
    // Which search answers the page has read: the app reads every answer with res.text().
    await page.evaluate(`(() => {
      window.answered = [];
      const f = window.fetch.bind(window);
      window.fetch = async (input, init) => {
        const res = await f(input, init);
        const read = res.text.bind(res);
        res.text = () => read().then((t) => (window.answered.push(String(input)), t));
        return res;
      };
    })()`);
    let release = () => {};
    const released = new Promise<void>((resolve) => {
      release = resolve;
    });
    const held = (u: URL) => u.pathname === '/api/search' && u.searchParams.get('q') === TOKEN;
    await page.route(held, async (route) => {
      await released;
      await route.continue();
    });
    try {
      await page.getByTestId('search-input').fill(TOKEN);
      await page.getByTestId('apply-filters').click();
      await page.waitForURL(new RegExp(`q=${TOKEN}`));
      await page.getByTestId('search-input').fill(none);
      await page.getByTestId('apply-filters').click();
      const heading = page.getByTestId('search-results').locator('h2');
      await heading.waitFor();
      assert.match(await text(heading), new RegExp(`No statements match ${none}`));

      release();
      await waitFor(
        async () =>
          ((await page.evaluate('window.answered')) as string[]).some((u) => u.includes(`q=${TOKEN}`)),
        { what: 'the page to read the held answer to the earlier search' },
      );
      // Rendering follows in the same microtask checkpoint as the read, so the page is settled now.
      assert.match(await text(heading), new RegExp(`No statements match ${none}`));
      assert.equal(await page.getByTestId('search-hit').count(), 0);
    } finally {
      release();
      await page.unroute(held);
    }
  });

  test('the player steps and plays through the statements in order and shows the result table', async () => {
    const { page } = admin;
    // A deep link names a statement by its sequence number.
    await page.goto(`${web.url}/sessions/${aliceSession}#seq=6`);
    await page.locator('[data-testid=current-statement][data-seq="6"]').waitFor();
    await page.getByTestId('error-box').waitFor();
    await page.reload();
    await page.locator('[data-testid=current-statement][data-seq="6"]').waitFor();

    await page.goto(`${web.url}/sessions/${aliceSession}`);
    await page.locator('[data-testid=current-statement][data-seq="2"]').waitFor();
    const items = page.getByTestId('statement-item');
    await waitFor(async () => (await items.count()) === 4, { what: 'four statements in the player' });
    const texts = await items.allInnerTexts();
    assert.match(texts[0]!, new RegExp(TOKEN));
    assert.match(texts[1]!, /generate_series/);
    assert.match(texts[2]!, /1\/0/);
    assert.match(texts[3]!, /the end/);
    assert.match(await text(page.getByTestId('session-header')), /alice/);

    await page.getByTestId('next').click();
    await waitFor(async () => /generate_series/.test(await text(page.getByTestId('statement-sql'))), {
      what: 'the second statement after Next',
    });
    const table = page.getByTestId('result-table');
    await table.waitFor();
    assert.deepEqual(
      await table
        .locator('thead th')
        .allInnerTexts()
        .then((h) => h.map((x) => x.split('\n')[0])),
      ['n', 'label'],
    );
    assert.equal(await table.locator('tbody tr').count(), 5);
    assert.deepEqual(await table.locator('tbody tr').nth(4).locator('td').allInnerTexts(), ['5', 'row 5']);
    await shot(page, 'player');
    if (process.env.DBTAPE_UPDATE_SCREENSHOT) {
      copyFileSync(
        path.join(RESULTS, 'dashboard-player.png'),
        path.join(ROOT, 'docs', 'screenshot-player.png'),
      );
    }

    await page.getByTestId('next').click();
    const err = page.getByTestId('error-box');
    await err.waitFor();
    assert.match(await text(err), /SQLSTATE 22012/);
    assert.match(await text(err), /division by zero/);
    await page.getByTestId('prev').click();
    await table.waitFor();

    // Play from the start at 16× and watch the selection move through every statement in order.
    await page.getByTestId('prev').click();
    await page.getByTestId('speed-16').click();
    // A string, not a function: tsx's transform would put helpers into a function that the page lacks.
    await page.evaluate(`(() => {
      window.seqLog = [];
      const read = () => {
        const el = document.querySelector('[data-testid=current-statement]');
        const seq = Number(el && el.getAttribute('data-seq'));
        if (seq && window.seqLog[window.seqLog.length - 1] !== seq) window.seqLog.push(seq);
      };
      read();
      new MutationObserver(read).observe(document.body, { subtree: true, childList: true, attributes: true });
    })()`);
    await page.getByTestId('play').click();
    await waitFor(async () => /Statement 4 of 4/.test(await text(page.getByTestId('position'))), {
      what: 'playback to reach the last statement',
    });
    const log = (await page.evaluate('window.seqLog')) as number[];
    const seqs = await Promise.all(
      (await items.all()).map(async (e) => Number(await e.getAttribute('data-seq'))),
    );
    assert.deepEqual(log, seqs, 'playback visited every statement once, in order');
  });

  test('a live session appears at once, its statements appear as they run, and kill ends it', async () => {
    const { page } = admin;
    await page.goto(`${web.url}/`);
    await page.getByTestId('sessions-table').waitFor();
    const app = `e2e-live-${RUN}`;
    const psql: ChildProcessWithoutNullStreams = spawn(PSQL, ['-X', '-d', dsn('alice', app)], {
      env: envWithoutPg({ PGPASSWORD: USERS.alice }),
    });
    let stderr = '';
    psql.stderr.setEncoding('utf8').on('data', (d: string) => {
      stderr += d;
    });
    const exited = new Promise<number | null>((resolve) => psql.on('close', (code) => resolve(code)));
    try {
      // No reload: the list learns of the new session over SSE.
      const row = page.locator('[data-testid=session-row].active', { hasText: app });
      await row.waitFor();
      const id = await row.getAttribute('data-session-id');
      assert.ok(id);
      await row.click();
      await page.getByTestId('player').waitFor();
      assert.match(await text(page.getByTestId('session-status')), /live/i);

      const items = page.getByTestId('statement-item');
      for (const n of [1, 2]) {
        psql.stdin.write(`select 'live_${RUN}_${n}' as step;\n`);
        await page
          .getByTestId('statement-item')
          .filter({ hasText: `live_${RUN}_${n}` })
          .waitFor();
      }
      psql.stdin.write('select pg_sleep(60);\n');
      await items.filter({ hasText: 'pg_sleep' }).waitFor();
      assert.equal(await items.count(), 3);
      await shot(page, 'live');

      await page.getByTestId('kill').click();
      await page.getByTestId('kill-confirm').click();
      const code = await withTimeout(exited, 20_000, 'psql to exit after the session was ended');
      assert.notEqual(code, 0);
      assert.match(stderr, /dbtape: session ended by administrator ada/);
      await waitFor(
        async () => /ended by an administrator/i.test(await text(page.getByTestId('session-status'))),
        {
          what: 'the player to show the session ended',
        },
      );
      // The statement that was running has no result; the pane says so instead of "Running…".
      await page.locator('[data-testid=unfinished], [data-testid=error-box]').first().waitFor();
      await shot(page, 'killed');
    } finally {
      if (psql.exitCode === null) psql.kill('SIGKILL');
    }
  });

  test("an ordinary user does not see another user's session (UI and API)", async () => {
    await psqlScript('bob', `select 'bob_${RUN}' as mine;`, `e2e-bob-${RUN}`);
    const bobSession = await sessionOf(`e2e-bob-${RUN}`);
    const bob = await signIn('bob');
    try {
      const { page, context } = bob;
      await page.locator(`[data-testid=session-row][data-session-id="${bobSession}"]`).waitFor();
      const users = await page.locator('[data-testid=session-row] td:nth-child(3)').allInnerTexts();
      assert.ok(
        users.length > 0 && users.every((u) => u.trim() === 'bob'),
        `bob's list: ${users.join(', ')}`,
      );
      await page.goto(`${web.url}/sessions/${aliceSession}`);
      await page.getByTestId('not-found').waitFor();
      await shot(page, 'not-found');
      const api = await context.request.get(`${web.url}/api/sessions/${aliceSession}`);
      assert.equal(api.status(), 404);
      const events = await context.request.get(`${web.url}/api/sessions/${aliceSession}/events`);
      assert.equal(events.status(), 404);
      const kill = await context.request.post(`${web.url}/api/sessions/${bobSession}/kill`);
      assert.equal(kill.status(), 403, 'no CSRF token and no admin role');
    } finally {
      await bob.context.close();
    }
  });

  test('recorded markup and control characters render literally', async () => {
    const app = `e2e-xss-${RUN}`;
    const hostile = "'bel\u0007 esc\u001b[2J rlo\u202egnp.exe'";
    await psqlScript(
      'alice',
      "SELECT '<script>alert(1)</script>' AS x, E'esc\\x1b[31mred' AS y;\n" +
        `select 'tab\there' as t,\n  ${hostile} as h;\n`,
      app,
    );
    const id = await sessionOf(app);
    const { page } = admin;
    await page.goto(`${web.url}/sessions/${id}`);
    const sql = page.getByTestId('statement-sql');
    await sql.waitFor();
    assert.match(await text(sql), /SELECT '<script>alert\(1\)<\/script>' AS x/);
    const cells = await page.getByTestId('result-table').locator('tbody td').allInnerTexts();
    assert.deepEqual(cells, ['<script>alert(1)</script>', 'esc⟨ESC⟩[31mred']);
    const esc = page.getByTestId('result-table').locator('.ctl');
    assert.equal(await text(esc), '⟨ESC⟩');
    assert.equal(await esc.getAttribute('title'), 'control character U+001B (ESC)');
    const scripts = await page.evaluate("document.querySelectorAll('script').length");
    assert.equal(scripts, 1, 'only the dashboard bundle is a script element');
    assert.equal(await page.locator('#app script, #app img, #app iframe').count(), 0);
    assert.deepEqual(dialogs, [], 'no alert() ran');
    await shot(page, 'xss');

    // Multi-line SQL: a quiet ↵ in the list, real line breaks in the statement; the controls in it
    // are named markers, which the fonts browsers have can draw (they lack the ␛ ␤ ␇ block).
    const shown = "'bel⟨BEL⟩ esc⟨ESC⟩[2J rlo⟨U+202E⟩gnp.exe'";
    const items = page.getByTestId('statement-item');
    await waitFor(async () => (await items.count()) === 2, { what: 'two statements in the player' });
    const line = items.nth(1).locator('.sql-line');
    assert.match(await text(line), new RegExp(`^select 'tab\there' as t,↵  ${esc2re(shown)} as h`));
    assert.equal(await line.locator('.nl').count(), 1);
    assert.deepEqual(await line.locator('.ctl').allTextContents(), ['⟨BEL⟩', '⟨ESC⟩', '⟨U+202E⟩']);
    await items.nth(1).click();
    await waitFor(async () => (await text(sql)).includes(' as h'), { what: 'the second statement' });
    assert.ok((await text(sql)).includes(`select 'tab\there' as t,\n  ${shown} as h`), await text(sql));
    assert.equal(await sql.locator('.nl').count(), 0);
    assert.deepEqual(await page.getByTestId('result-table').locator('tbody td').allTextContents(), [
      'tab\there',
      shown.slice(1, -1),
    ]);
    const body = (await page.evaluate('document.body.innerText')) as string;
    assert.equal(/[\u2400-\u243f]/u.test(body), false, 'no control picture (a box in common fonts)');
    await shot(page, 'controls');
  });
});
