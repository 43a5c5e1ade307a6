#!/usr/bin/env node
// How fast the explorer's overview comes up (BENCHMARKS.md "Explorer"): a fresh browser
// context (empty cache) opens <base url>, and we time until the head height is shown, until the
// latest-blocks table is filled and until all four charts are drawn, and count the bytes of
// every response (JSON-RPC answers and assets). Then a block page with its compute results.
// Usage: node explorer/e2e/bench.mjs <base url> [<runs>=5] [<screenshot.png>]
import { chromium } from 'playwright-core';

const [base, runsArg, shotPath] = process.argv.slice(2);
if (!base) {
  console.error('usage: node explorer/e2e/bench.mjs <base url> [runs] [screenshot.png]');
  process.exit(2);
}
const runs = Number(runsArg ?? 5);
const root = base.replace(/#.*$/, '').replace(/\/?$/, '/');
const browser = await chromium.launch({
  executablePath: process.env.CHROMIUM ?? '/usr/bin/chromium',
  headless: true,
  args: ['--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking', '--disable-component-update', '--disable-sync'],
});
const median = (v) => [...v].sort((a, b) => a - b)[Math.floor(v.length / 2)];
const rows = { head: [], blocks: [], charts: [], block: [], kib: [], posts: [] };
let blocksCovered = 0;
for (let i = 0; i < runs; i++) {
  const context = await browser.newContext({ viewport: { width: 1280, height: 800 } });
  const page = await context.newPage();
  let bytes = 0;
  let posts = 0;
  page.on('response', async (r) => {
    if (r.request().method() === 'POST') posts++;
    try {
      bytes += (await r.body()).length;
    } catch {}
  });
  const t0 = performance.now();
  await page.goto(root + '#/', { waitUntil: 'commit' });
  await page.waitForFunction(() => /^\d+$/.test(document.getElementById('head-height')?.textContent ?? ''), null, { timeout: 30000 });
  rows.head.push(performance.now() - t0);
  await page.waitForSelector('#latest-blocks tbody tr', { timeout: 30000 });
  rows.blocks.push(performance.now() - t0);
  for (const c of ['difficulty', 'compute', 'shares', 'blocktime']) await page.waitForSelector(`#chart-${c} canvas`, { timeout: 30000 });
  rows.charts.push(performance.now() - t0);
  await page.waitForLoadState('networkidle');
  rows.kib.push(bytes / 1024);
  rows.posts.push(posts);
  blocksCovered = Number(await page.textContent('#head-height'));
  if (i === 0 && shotPath) await page.screenshot({ path: shotPath, fullPage: false });
  const h = blocksCovered - 1;
  const t1 = performance.now();
  await page.evaluate((h) => (location.hash = `#/block/${h}`), h);
  await page.waitForSelector('#block-txs', { timeout: 30000 });
  rows.block.push(performance.now() - t1);
  await context.close();
}
await browser.close();
const f = (v) => `${median(v).toFixed(0)} ms`;
console.log(`explorer overview, fresh context, head at ${blocksCovered} (charts over the last ${Math.min(100, blocksCovered)} blocks), median of ${runs}:`);
console.log(`  head shown ${f(rows.head)}, latest blocks ${f(rows.blocks)}, four charts ${f(rows.charts)}`);
console.log(`  transferred ${median(rows.kib).toFixed(0)} KiB in all (assets + ${median(rows.posts)} JSON-RPC POSTs)`);
console.log(`  then a block page (header, transactions, compute results): ${f(rows.block)}`);
