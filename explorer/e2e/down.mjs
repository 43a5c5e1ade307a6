#!/usr/bin/env node
// The explorer while its node goes away and comes back (driven by tests/tests/explorer.rs):
// opens <base url>, waits for the head, prints "watching <height>"; the test then kills the
// node. The banner must say "Node unreachable" within 10 s ("down <ms>"), and once the test
// restarts the node on the same port the banner must clear and the head move on past the
// height it had ("back <height>"), all without a reload. Exit 0 only if all that happened and
// the page threw nothing (the browser's own "connection refused" console lines while the node
// is away are expected; page errors are not).
import { chromium } from 'playwright-core';

const [base] = process.argv.slice(2);
const root = base.replace(/#.*$/, '').replace(/\/?$/, '/');
const browser = await chromium.launch({
  executablePath: process.env.CHROMIUM ?? '/usr/bin/chromium',
  headless: true,
  args: ['--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking', '--disable-component-update', '--disable-sync'],
});
const errors = [];
let code = 1;
try {
  const page = await (await browser.newContext({ viewport: { width: 1280, height: 800 } })).newPage();
  page.on('pageerror', (e) => errors.push(`page error: ${e.message}`));
  await page.goto(root + '#/', { waitUntil: 'load' });
  await page.waitForFunction(() => /^\d+$/.test(document.getElementById('head-height')?.textContent ?? ''), null, { timeout: 15000 });
  await page.waitForFunction(() => document.getElementById('node-status')?.dataset.state === 'ok', null, { timeout: 15000 });
  const h0 = Number(await page.textContent('#head-height'));
  console.log(`watching ${h0}`);
  const t0 = Date.now();
  await page.waitForFunction(() => document.getElementById('node-status')?.dataset.state === 'down', null, { timeout: 30000 });
  const text = await page.textContent('#node-status');
  if (!text.includes('Node unreachable')) throw new Error(`banner says ${JSON.stringify(text)}`);
  if (!(await page.isVisible('#node-status'))) throw new Error('the banner is not visible');
  console.log(`down ${Date.now() - t0}`);
  await page.waitForFunction(() => document.getElementById('node-status')?.dataset.state === 'ok', null, { timeout: 60000 });
  await page.waitForFunction((h) => Number(document.getElementById('head-height')?.textContent) > h, h0, { timeout: 30000 });
  console.log(`back ${await page.textContent('#head-height')}`);
  code = errors.length ? 1 : 0;
} catch (e) {
  console.log(`FAIL ${String(e?.message ?? e).split('\n')[0]}`);
} finally {
  await browser.close().catch(() => {});
}
for (const e of errors) console.log(`FAIL ${e}`);
process.exit(code);
