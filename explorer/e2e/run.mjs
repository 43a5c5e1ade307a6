#!/usr/bin/env node
// End-to-end check of the explorer in headless Chromium (Debian's /usr/bin/chromium, driven by
// playwright-core). Usage:
//   node explorer/e2e/run.mjs <base url> <screenshot dir> [<miner address> [<tx hash> [<open job id>]]]
// where <tx hash> (optional) is a committed transaction carrying HTML markup in its data (an
// external result's task id): its page must show the markup as text and never run it.
// Prints one line per check; exits 0 only if every check passed and the browser logged no
// console error or warning, no page error and no failed request.

import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { chromium } from 'playwright-core';

const [base, shots, minerArg, markupTx, jobArg] = process.argv.slice(2);
if (!base || !shots) {
  console.error('usage: node explorer/e2e/run.mjs <base url> <screenshot dir> [<miner address>]');
  process.exit(2);
}
mkdirSync(shots, { recursive: true });
const root = base.replace(/#.*$/, '').replace(/\/?$/, '/');
const T = 10000;
const started = Date.now();
const problems = [];
let failed = 0;
let passed = 0;

function ok(name, detail = '') {
  passed++;
  console.log(`ok   ${name}${detail ? ` (${detail})` : ''}`);
}
function fail(name, why) {
  failed++;
  console.log(`FAIL ${name}: ${why}`);
}
async function check(name, fn) {
  try {
    const detail = await fn();
    ok(name, detail ?? '');
    return true;
  } catch (e) {
    fail(name, String(e?.message ?? e).split('\n')[0]);
    return false;
  }
}

const browser = await chromium.launch({
  executablePath: process.env.CHROMIUM ?? '/usr/bin/chromium',
  headless: true,
  args: ['--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking', '--disable-component-update', '--disable-sync'],
});
let closing = false;
const context = await browser.newContext({ viewport: { width: 1280, height: 800 } });
function watch(page, label) {
  page.on('console', (m) => {
    if (m.type() === 'error' || m.type() === 'warning') problems.push(`[${label}] console ${m.type()}: ${m.text()}`);
  });
  page.on('pageerror', (e) => problems.push(`[${label}] page error: ${e.message}`));
  page.on('requestfailed', (r) => {
    if (!closing) problems.push(`[${label}] request failed: ${r.method()} ${r.url()} ${r.failure()?.errorText ?? ''}`);
  });
  page.on('response', (r) => {
    if (r.status() >= 400) problems.push(`[${label}] HTTP ${r.status()}: ${r.url()}`);
  });
}

const visited = {}; // page name → hash, for the phone pass
async function go(page, hash) {
  await page.evaluate((h) => (location.hash = h), hash);
}
async function shot(page, name, width) {
  await page.screenshot({ path: join(shots, `${name}-${width}.png`), fullPage: true });
}
async function noOverflow(page) {
  const [sw, iw] = await page.evaluate(() => [document.documentElement.scrollWidth, window.innerWidth]);
  if (sw > iw) throw new Error(`page is ${sw} px wide in a ${iw} px viewport`);
  return `${sw} <= ${iw}`;
}

/** One JSON-RPC call from inside the page (same endpoint as the app: config.json's rpc or the origin). */
async function rpcInPage(page, method, params = []) {
  return page.evaluate(async ([method, params]) => {
    const cfg = await (await fetch('./config.json')).json();
    const r = await fetch(cfg.rpc ?? location.origin + '/', { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ jsonrpc: '2.0', id: 1, method, params }) });
    return r.json();
  }, [method, params]);
}
const missing = (res) => res?.error?.code === -32601;

let miner = minerArg;
let taskId = null;
try {
  const page = await context.newPage();
  watch(page, '1280');
  let headFrames = 0;
  page.on('websocket', (ws) => ws.on('framereceived', (f) => String(f.payload).includes('cpc_subscription') && headFrames++));
  await page.goto(root + '#/', { waitUntil: 'load' });

  await check('overview shows the head height', async () => {
    await page.waitForFunction(() => /^\d+$/.test(document.getElementById('head-height')?.textContent ?? ''), null, { timeout: T });
    return `head ${await page.textContent('#head-height')}`;
  });
  await check('head height increases within 10 s (live)', async () => {
    const h0 = Number(await page.textContent('#head-height'));
    await page.waitForFunction((h) => Number(document.getElementById('head-height')?.textContent) > h, h0, { timeout: T });
    return `${h0} → ${await page.textContent('#head-height')}`;
  });
  await check('new heads arrive over the WebSocket (when config.json names one)', async () => {
    const cfg = await page.evaluate(async () => (await fetch('./config.json')).json());
    if (!cfg.ws) return 'skipped: ws is null, the page polls';
    for (let i = 0; i < 50 && headFrames === 0; i++) await page.waitForTimeout(100);
    if (headFrames === 0) throw new Error(`no cpc_subscription frame from ${cfg.ws}`);
    return `${headFrames} notifications`;
  });
  await check('node status banner is present and ok', async () => {
    const st = await page.getAttribute('#node-status', 'data-state');
    if (st !== 'ok') throw new Error(`data-state=${st}`);
  });
  await check('overview charts are drawn', async () => {
    for (const id of ['chart-difficulty', 'chart-compute', 'chart-shares', 'chart-blocktime']) await page.waitForSelector(`#${id} canvas`, { timeout: T });
  });
  await check('overview lists latest blocks and transactions', async () => {
    await page.waitForSelector('#latest-blocks tbody tr', { timeout: T });
    await page.waitForSelector('#latest-txs', { timeout: T });
  });
  await shot(page, 'overview', 1280);
  visited.overview = '#/';

  // A block with shares: from the overview's latest blocks (the Shares column), else by RPC.
  await check('block with shares shows its compute results', async () => {
    await page.waitForFunction(() => [...document.querySelectorAll('#latest-blocks tbody tr')].some((tr) => Number(tr.lastElementChild?.textContent) > 0), null, { timeout: T }).catch(() => {});
    const clicked = await page.evaluate(() => {
      const tr = [...document.querySelectorAll('#latest-blocks tbody tr')].find((r) => Number(r.lastElementChild?.textContent) > 0);
      const a = tr?.querySelector('a[href^="#/block/"]');
      if (a) a.click();
      return a ? a.getAttribute('href') : null;
    });
    if (!clicked) {
      const h = await page.evaluate(async () => {
        const cfg = await (await fetch('./config.json')).json();
        const r = await fetch(cfg.rpc ?? location.origin + '/', { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ jsonrpc: '2.0', id: 1, method: 'cpc_getComputeResults', params: ['latest'] }) });
        return (await r.json()).result?.height;
      });
      await go(page, `#/block/${h}`);
    }
    await page.waitForSelector('#compute-results tbody tr', { timeout: T });
    await page.waitForSelector('#block-txs', { timeout: T });
    visited.block = await page.evaluate(() => location.hash);
    const n = await page.locator('#compute-results tbody tr').count();
    const cells = await page.locator('#compute-results tbody tr').first().locator('td').allTextContents();
    if (!cells.some((c) => /CPC/.test(c))) throw new Error('no reward in the first result row');
    if (!miner) miner = await page.locator('#compute-results tbody tr a[href^="#/address/"]').first().getAttribute('title');
    taskId = await page.locator('#compute-results tbody tr td:nth-child(3) span').first().getAttribute('title');
    return `${visited.block}, ${n} results`;
  });
  await shot(page, 'block', 1280);

  await check('tx page shows a successful receipt', async () => {
    await page.locator('#compute-results tbody tr a[href^="#/tx/"]').first().click();
    await page.waitForSelector('#tx-receipt', { timeout: T });
    await page.waitForFunction(() => /success/.test(document.getElementById('tx-receipt')?.textContent ?? ''), null, { timeout: T });
    visited.tx = await page.evaluate(() => location.hash);
    return visited.tx.slice(0, 20) + '…';
  });
  await shot(page, 'tx', 1280);

  await check('search for the miner address shows its worker stats', async () => {
    if (!miner) throw new Error('no miner address');
    await page.fill('#search', miner);
    await page.press('#search', 'Enter');
    await page.waitForFunction((a) => (document.getElementById('address-title')?.textContent ?? '').includes(a), miner, { timeout: T });
    await page.waitForSelector('#worker-stats', { timeout: T });
    const text = await page.textContent('#worker-stats');
    const m = /Shares\s*([\d,]+)/.exec(text ?? '');
    if (!m || Number(m[1].replace(/,/g, '')) <= 0) throw new Error(`no shares in "${text}"`);
    visited.address = await page.evaluate(() => location.hash);
    return `${m[1]} shares`;
  });
  await check('account page lists recent transactions (when the node has cpc_getAccountTransactions)', async () => {
    if (missing(await rpcInPage(page, 'cpc_getAccountTransactions', [miner, 1]))) {
      if (await page.locator('#address-txs').count()) throw new Error('section shown without the method');
      return 'skipped: method not found, section hidden';
    }
    await page.waitForSelector('#address-txs tbody tr', { timeout: T });
    return `${await page.locator('#address-txs tbody tr').count()} rows`;
  });
  await shot(page, 'address', 1280);

  await check('search for no-such-thing says nothing found', async () => {
    await page.fill('#search', 'no-such-thing');
    await page.press('#search', 'Enter');
    await page.waitForSelector('#not-found', { timeout: T });
    const t = await page.textContent('#not-found');
    if (!t.includes('Nothing found') || !t.includes('no-such-thing')) throw new Error(`text: ${t}`);
    visited.notfound = await page.evaluate(() => location.hash);
  });
  await shot(page, 'notfound', 1280);

  await check('search for a task id opens its transaction (when the node has poc_getResultByTask)', async () => {
    if (!taskId) throw new Error('no task id seen on the block page');
    const has = !missing(await rpcInPage(page, 'poc_getResultByTask', [taskId]));
    await page.fill('#search', taskId);
    await page.press('#search', 'Enter');
    if (!has) {
      await page.waitForSelector('#not-found', { timeout: T });
      return 'skipped: method not found, says nothing found';
    }
    await page.waitForFunction(() => location.hash.startsWith('#/tx/'), null, { timeout: T });
    await page.waitForSelector('#tx-receipt', { timeout: T });
    if (!(await page.textContent('#app')).includes(taskId)) throw new Error('tx page does not show the task id');
    return taskId;
  });
  await check('markup in chain data is shown as text, never run (when given a tx carrying some)', async () => {
    if (!markupTx) return 'skipped: no such tx given';
    await go(page, `#/tx/${markupTx}`);
    await page.waitForSelector('#tx-receipt', { timeout: T });
    const text = await page.textContent('#app');
    if (!text.includes('<img src=x onerror=')) throw new Error('the markup is not shown as text');
    const [imgs, pwned] = await page.evaluate(() => [document.querySelectorAll('#app img').length, window.__pwned]);
    if (imgs || pwned) throw new Error(`markup became elements (${imgs} img) or ran (${pwned})`);
    const q = '"><img src=y onerror="window.__pwned=2">';
    await page.fill('#search', q);
    await page.press('#search', 'Enter');
    await page.waitForSelector('#not-found', { timeout: T });
    if (!(await page.textContent('#not-found')).includes(q)) throw new Error('the query is not shown as typed');
    const [imgs2, pwned2] = await page.evaluate(() => [document.querySelectorAll('img').length, window.__pwned]);
    if (imgs2 || pwned2) throw new Error(`the query became elements (${imgs2} img) or ran (${pwned2})`);
    return markupTx.slice(0, 16) + '…';
  });
  await check('search for a block height opens the block', async () => {
    await page.fill('#search', '3');
    await page.press('#search', 'Enter');
    await page.waitForFunction(() => location.hash === '#/block/3', null, { timeout: T });
    await page.waitForSelector('#block-txs', { timeout: T });
  });

  await check('search for a tx hash and for a block hash opens their pages', async () => {
    const tx = (visited.tx ?? '').replace('#/tx/', '');
    if (!/^[0-9a-f]{64}$/.test(tx)) throw new Error(`no tx hash seen (${visited.tx})`);
    await page.fill('#search', tx);
    await page.press('#search', 'Enter');
    await page.waitForFunction((t) => location.hash === `#/tx/${t}`, tx, { timeout: T });
    await page.waitForSelector('#tx-receipt', { timeout: T });
    const blk = await rpcInPage(page, 'cpc_getBlockByNumber', [2, false]);
    const hash = blk.result.hash;
    await page.fill('#search', hash);
    await page.press('#search', 'Enter');
    await page.waitForFunction(() => location.hash.startsWith('#/block/'), null, { timeout: T });
    await page.waitForSelector('#block-txs', { timeout: T });
    if (!(await page.textContent('#app')).includes(hash)) throw new Error('the block page does not show the hash searched');
    return `${tx.slice(0, 10)}…, block ${hash.slice(0, 10)}…`;
  });
  await check('the banner says when the node is syncing (its cpc_syncing answer rewritten in flight)', async () => {
    // The dev node never syncs: answer the page's cpc_syncing as a catching-up node would.
    const fake = { starting_block: 0, current_block: 1234, highest_block: 56789 };
    await page.route(root, async (route) => {
      const req = route.request();
      if (req.method() !== 'POST') return route.continue();
      const body = JSON.parse(req.postData() ?? 'null');
      const calls = Array.isArray(body) ? body : [body];
      const ids = new Set(calls.filter((c) => c.method === 'cpc_syncing').map((c) => c.id));
      const res = await route.fetch();
      if (!ids.size) return route.fulfill({ response: res });
      const out = await res.json();
      const fix = (o) => (ids.has(o.id) ? { ...o, result: fake } : o);
      return route.fulfill({ response: res, json: Array.isArray(out) ? out.map(fix) : fix(out) });
    });
    await page.waitForFunction(() => document.getElementById('node-status')?.dataset.state === 'syncing', null, { timeout: T });
    const text = await page.textContent('#node-status');
    if (!text.includes('Syncing: block 1,234 of 56,789')) throw new Error(`banner: ${text}`);
    await page.unroute(root);
    await page.waitForFunction(() => document.getElementById('node-status')?.dataset.state === 'ok', null, { timeout: T });
    return text;
  });
  for (const [name, hash, sel] of [
    ['workers', '#/workers', '#workers-table tbody tr'],
    ['validators', '#/validators', '#validators-table tbody tr'],
    ['blocks', '#/blocks', '#blocks-table tbody tr'],
  ]) {
    await check(`${name} page lists rows`, async () => {
      await go(page, hash);
      await page.waitForSelector(sel, { timeout: T });
      visited[name] = hash;
      return `${await page.locator(sel).count()} rows`;
    });
    await shot(page, name, 1280);
  }
  if (jobArg) {
    await check('jobs page lists the open job', async () => {
      await go(page, '#/jobs');
      await page.waitForSelector('#jobs-table tbody tr', { timeout: T });
      const text = await page.locator('#jobs-table').innerText();
      if (!text.includes(jobArg.slice(0, 10))) throw new Error(`job ${jobArg} not in the table: ${text}`);
      visited.jobs = '#/jobs';
      return `${await page.locator('#jobs-table tbody tr').count()} rows`;
    });
    await shot(page, 'jobs', 1280);
    await check('a click on the job opens its page, open, with its shape', async () => {
      await page.locator('#jobs-table tbody tr a[href^="#/job/"]').first().click();
      await page.waitForFunction(() => (document.getElementById('job-overview')?.textContent ?? '').includes('A 3 × 5 · B 5 × 4'), null, { timeout: T });
      const st = await page.locator('#job-overview').getAttribute('data-status');
      if (st !== 'open') throw new Error(`status ${st}`);
      visited.job = `#/job/${jobArg}`;
      return st;
    });
    await shot(page, 'job', 1280);
    await check('search for job:<id> opens the job', async () => {
      await go(page, '#/');
      await page.fill('#search', `job:${jobArg}`);
      await page.press('#search', 'Enter');
      await page.waitForFunction((id) => location.hash === `#/job/${id}`, jobArg, { timeout: T });
      await page.waitForSelector('#job-overview', { timeout: T });
      return 'ok';
    });
  }
  await check('no horizontal overflow at 1280 px (overview)', async () => {
    await go(page, '#/');
    await page.waitForSelector('#latest-blocks tbody tr', { timeout: T });
    return noOverflow(page);
  });
  await page.close();

  // Phone width: the same pages, each within the viewport's width.
  const phone = await context.newPage();
  watch(phone, '390');
  await phone.setViewportSize({ width: 390, height: 844 });
  await phone.goto(root + '#/', { waitUntil: 'load' });
  const ready = {
    overview: '#latest-blocks tbody tr',
    block: '#compute-results tbody tr',
    tx: '#tx-receipt',
    address: '#address-title',
    notfound: '#not-found',
    workers: '#workers-table tbody tr',
    validators: '#validators-table tbody tr',
    blocks: '#blocks-table tbody tr',
    ...(jobArg ? { jobs: '#jobs-table tbody tr', job: '#job-overview' } : {}),
  };
  for (const [name, sel] of Object.entries(ready)) {
    if (!visited[name]) {
      fail(`390 px: ${name}`, 'not reached at 1280 px');
      continue;
    }
    await check(`390 px: ${name} fits the width`, async () => {
      await go(phone, visited[name]);
      await phone.waitForSelector(sel, { timeout: T });
      if (name === 'overview') await phone.waitForSelector('#chart-blocktime canvas', { timeout: T });
      const r = await noOverflow(phone);
      await shot(phone, name, 390);
      return r;
    });
  }
  await phone.close();
} catch (e) {
  fail('run', String(e?.stack ?? e));
} finally {
  closing = true;
  await context.close().catch(() => {});
  await browser.close().catch(() => {});
}

if (problems.length) {
  fail('browser logged no errors or warnings', `${problems.length}:\n  ${problems.join('\n  ')}`);
} else ok('browser logged no errors or warnings, no failed requests');
console.log(`${passed} passed, ${failed} failed (${((Date.now() - started) / 1000).toFixed(1)} s)`);
process.exit(failed ? 1 : 0);
