// The pages. Each renders into `root` and may return hooks for new heads and for leaving.

import { Chart } from './charts';
import { cached, difficulty, putBlock, status, summariesRange, type Block, type ComputeResults, type Summary, type Tx } from './chain';
import {
  addrFull, addrLink, badge, blockHashLink, blockLink, clear, consLink, cpc, fmtInt, fmtNum, full, h, isoTime, kv, link, mono, section, si, table, time, txLink, type Child,
} from './dom';
import { batch, call, type Call, INVALID_PARAMS, METHOD_NOT_FOUND, RpcError, unwrap } from './rpc';

export interface Page {
  onHead?(height: number): void;
  dispose?(): void;
}
type Render = (root: HTMLElement, arg: string, alive: () => boolean) => Promise<Page | void>;

const N = 100;

/** Runs `fn` on each call, never two at once: calls during a run coalesce into one more run. */
function serial(fn: () => Promise<void>): () => void {
  let running = false;
  let again = false;
  const run = async (): Promise<void> => {
    if (running) {
      again = true;
      return;
    }
    running = true;
    try {
      do {
        again = false;
        try {
          await fn();
        } catch {
          // The banner shows a dead node; the next head retries.
        }
      } while (again);
    } finally {
      running = false;
    }
  };
  return () => void run();
}

function notFound(root: HTMLElement, q: string, what = ''): void {
  clear(
    root,
    h('div', { id: 'not-found', class: 'card' }, h('h2', null, 'Nothing found'), h('p', null, `Nothing found for `, h('span', { class: 'mono wrap' }, q), what ? ` ${what}` : '', '.'),
      h('p', { class: 'muted' }, 'Search takes a block height, a block, transaction or job hash, a cpc1… address or a task id.')),
  );
}

function stat(label: string, value: Child, sub?: Child, id?: string): HTMLElement {
  return h('div', { class: 'stat' }, h('div', { class: 'stat-label' }, label), h('div', { class: 'stat-value', id }, value), sub ? h('div', { class: 'stat-sub' }, sub) : null);
}

function txTypeBadge(t: string): HTMLElement {
  return h('span', { class: `txtype t-${t.toLowerCase()}` }, t);
}

function sharesOf(s: Summary | undefined): number | null {
  return s?.cr ? s.cr.shares : null;
}

// ---------------------------------------------------------------- overview

const overview: Render = async (root, _arg, alive) => {
  const headEl = h('span', { id: 'head-height' }, status.head !== null ? String(status.head) : '…');
  const els = {
    finalized: h('span', null, '…'),
    blockTime: h('span', null, '…'),
    tps: h('span', null, '…'),
    diff: h('span', null, '…'),
    compute: h('span', null, '…'),
    computeSub: h('span', null, ''),
    shares: h('span', null, '…'),
    sharesSub: h('span', null, ''),
    pool: h('span', null, '…'),
    headAge: h('span', null, ''),
    finAge: h('span', null, ''),
  };
  const minerBox = h('div', { class: 'stat hidden' });
  const charts = [
    new Chart({ id: 'chart-difficulty', title: 'Share difficulty', unit: '', color: '#7b3fbf' }),
    new Chart({ id: 'chart-compute', title: 'Network compute (tasks/s)', unit: '', color: '#1f77b4' }),
    new Chart({ id: 'chart-shares', title: 'Shares per block', unit: '', color: '#2a9d55', bars: true, fmt: (v) => fmtNum(v, 0) }),
    new Chart({ id: 'chart-blocktime', title: 'Block time (s)', unit: '', color: '#d9822b', fmt: (v) => fmtNum(v, 2) + ' s' }),
  ];
  const blocksBox = h('div', null, h('p', { class: 'loading' }, 'Loading…'));
  const txsBox = h('div', null, h('p', { class: 'loading' }, 'Loading…'));
  clear(
    root,
    h('div', { class: 'stats' },
      stat('Head', h('a', { href: '#/blocks' }, headEl), els.headAge),
      stat('Finalized', els.finalized, els.finAge),
      stat('Block time', els.blockTime, `mean of last ${N}`),
      stat('TPS', els.tps, `last ${N} blocks`),
      stat('Difficulty', els.diff, 'tasks per share'),
      stat('Network compute', els.compute, els.computeSub),
      stat('Shares / block', els.shares, els.sharesSub),
      stat('Mempool', els.pool, 'pending / queued'),
      minerBox),
    h('div', { class: 'charts' }, charts.map((c) => c.el)),
    h('div', { class: 'two' }, section(h('a', { href: '#/blocks' }, 'Latest blocks'), blocksBox), section('Latest transactions', txsBox)),
  );

  const recentTxs: Array<{ tx: Tx; height: number; ts: number }> = [];
  let lastTxHeight = -1;

  const update = serial(async () => {
    const head = status.head ?? (await call<number>('cpc_blockNumber'));
    if (!alive()) return;
    headEl.textContent = String(head);
    const [ns, pool, miner, fin, hb] = await batch([
      ['poc_networkStats'],
      ['txpool_status'],
      ['miner_status'],
      ['cpc_getBlockByNumber', ['finalized', false]],
      ['cpc_getBlockByNumber', [head, true]],
    ]);
    if (!alive()) return;
    if (ns.ok && ns.result) {
      const s = ns.result;
      els.blockTime.textContent = `${s.mean_block_time_s.toFixed(2)} s`;
      els.diff.textContent = si(s.difficulty);
      els.compute.textContent = `${si(s.tasks_per_second)} tasks/s`;
      els.computeSub.textContent = `${si(s.int8_tops)} int8 TOPS · ${s.blocks} blocks`;
      els.shares.textContent = fmtNum(s.mean_shares_per_block, 2);
      els.sharesSub.textContent = `target ${s.shares_per_block_target}`;
    }
    if (pool.ok && pool.result) els.pool.textContent = `${fmtInt(pool.result.pending)} / ${fmtInt(pool.result.queued)}`;
    if (miner.ok && miner.result && miner.result.mining) {
      const m = miner.result;
      const tps = (m.devices ?? []).reduce((a: number, d: any) => a + (d.tasks_per_sec ?? 0), 0);
      minerBox.classList.remove('hidden');
      clear(minerBox, h('div', { class: 'stat-label' }, 'This node mines'), h('div', { class: 'stat-value' }, `${si(tps)} tasks/s`),
        h('div', { class: 'stat-sub' }, addrLink(m.worker, 8, 4), ` · ${fmtInt(m.results_accepted)} accepted`));
    } else minerBox.classList.add('hidden');
    if (fin.ok && fin.result) {
      const b = fin.result as Block;
      putBlock(b);
      clear(els.finalized, h('a', { href: `#/block/${b.header.height}` }, fmtInt(b.header.height)));
      clear(els.finAge, time(b.header.timestamp));
    }
    if (hb.ok && hb.result) {
      const b = hb.result as Block;
      putBlock(b);
      clear(els.headAge, time(b.header.timestamp));
      if (b.header.height > lastTxHeight) {
        lastTxHeight = b.header.height;
        const txs = (b.transactions as Tx[]).map((tx) => {
          delete tx.payload;
          return { tx, height: b.header.height, ts: b.header.timestamp };
        });
        recentTxs.unshift(...txs.reverse());
        recentTxs.length = Math.min(recentTxs.length, 10);
      }
      clear(txsBox, table('latest-txs', ['Tx', 'Block', 'Type', 'From', 'To', 'Amount'],
        recentTxs.map(({ tx, height }) => [txLink(tx.hash), blockLink(height), txTypeBadge(tx.tx_type), addrLink(tx.from_address, 8, 4), addrLink(tx.to_address, 8, 4), cpc(tx.amount, 4)]),
        { numeric: [5], empty: 'No transactions in the latest block.' }));
    }

    // The last N blocks: one batch the first time, a call or two per head after.
    const sums = await summariesRange(head - N, head);
    if (!alive()) return;
    const latest = sums.slice(-10).reverse();
    clear(blocksBox, table('latest-blocks', ['Block', 'Hash', 'Age', 'Txs', 'Shares'],
      latest.map((s) => [blockLink(s.header.height), blockHashLink(s.hash, 6, 4), time(s.header.timestamp), fmtInt(s.tx_count), sharesOf(s) ?? '—']),
      { numeric: [3, 4] }));
    const xs: number[] = [], dif: number[] = [], comp: Array<number | null> = [], sh: Array<number | null> = [], bt: Array<number | null> = [];
    let txCount = 0;
    for (let i = 1; i < sums.length; i++) {
      const s = sums[i], p = sums[i - 1];
      if (p.header.height !== s.header.height - 1) continue;
      xs.push(s.header.height);
      dif.push(difficulty(s.header.share_target));
      const dt = (s.header.timestamp - p.header.timestamp) / 1000;
      const shares = sharesOf(s);
      sh.push(shares);
      // Block 1's parent is genesis, whose time is the genesis document's.
      const timed = p.header.height > 0 && dt > 0;
      bt.push(timed ? dt : null);
      comp.push(timed && shares !== null ? (shares * difficulty(p.header.share_target)) / dt : null);
      txCount += s.tx_count;
    }
    const first = sums.find((s) => s.header.height > 0);
    const last = sums[sums.length - 1];
    if (first && last && last.header.timestamp > first.header.timestamp) {
      const span = (last.header.timestamp - first.header.timestamp) / 1000;
      els.tps.textContent = fmtNum(txCount / span, 2);
    }
    charts[0].set(xs, dif);
    charts[1].set(xs, comp);
    charts[2].set(xs, sh);
    charts[3].set(xs, bt);
  });
  update();
  return { onHead: (hgt) => ((headEl.textContent = String(hgt)), update()), dispose: () => charts.forEach((c) => c.destroy()) };
};

// ---------------------------------------------------------------- block list

const PAGE = 25;

const blocks: Render = async (root, arg, alive) => {
  const fixedTop = /^\d+$/.test(arg) ? Number(arg) : null;
  const body = h('div', null, h('p', { class: 'loading' }, 'Loading…'));
  const nav = h('div', { class: 'pager' });
  clear(root, h('h1', null, 'Blocks'), section(fixedTop === null ? 'Latest blocks (live)' : `Blocks up to ${fmtInt(fixedTop)}`, nav, body));
  const update = serial(async () => {
    const head = status.head ?? (await call<number>('cpc_blockNumber'));
    const top = Math.min(fixedTop ?? head, head);
    const sums = (await summariesRange(top - PAGE, top)).reverse();
    if (!alive()) return;
    const rows = sums.filter((s) => s.header.height > top - PAGE).map((s) => {
      const parent = sums.find((p) => p.header.height === s.header.height - 1);
      const bt = parent && parent.header.height > 0 ? `${((s.header.timestamp - parent.header.timestamp) / 1000).toFixed(2)} s` : "—";
      return [
        blockLink(s.header.height), blockHashLink(s.hash), time(s.header.timestamp), bt, fmtInt(s.tx_count), sharesOf(s) ?? '—',
        s.cr ? cpc(s.cr.share_reward, 4) : '—', `${fmtNum((100 * s.header.gas_used) / s.header.gas_limit, 1)} %`, si(difficulty(s.header.share_target)),
        consLink(s.header.proposer_address),
      ];
    });
    clear(body, table('blocks-table', ['Block', 'Hash', 'Age', 'Block time', 'Txs', 'Shares', 'Share reward', 'Gas', 'Difficulty', 'Proposer'], rows, { numeric: [3, 4, 5, 6, 7, 8] }));
    const older = top - PAGE;
    clear(nav,
      top < head ? h('a', { href: top + PAGE >= head ? '#/blocks' : `#/blocks/${top + PAGE}` }, '← Newer') : h('span', { class: 'muted' }, '← Newer'),
      h('span', { class: 'muted' }, ` ${fmtInt(Math.max(0, older + 1))}–${fmtInt(top)} of ${fmtInt(head)} `),
      older >= 0 ? h('a', { href: `#/blocks/${older}` }, 'Older →') : h('span', { class: 'muted' }, 'Older →'));
  });
  update();
  return { onHead: () => fixedTop === null && update() };
};

// ---------------------------------------------------------------- block

const HEX64 = /^[0-9a-f]{64}$/i;

const block: Render = async (root, arg) => {
  const byHash = HEX64.test(arg);
  if (!byHash && !/^\d+$/.test(arg)) return notFound(root, arg, 'as a block');
  const q = byHash ? arg.toLowerCase() : Number(arg);
  const calls: Call[] = byHash ? [['cpc_getBlockByHash', [q, true]]] : [['cpc_getBlockByNumber', [q, true]], ['cpc_getComputeResults', [q, false]]];
  const [bo, co] = await batch(calls);
  const b = unwrapOr<Block | null>(bo, null);
  if (!b) return notFound(root, arg, 'as a block');
  putBlock(b);
  let cr: ComputeResults | null = co && co.ok ? co.result : null;
  if (byHash) cr = await call<ComputeResults | null>('cpc_getComputeResults', [b.header.height, false]);
  const hd = b.header;
  const hgt = hd.height;
  const parent = hgt > 0 ? cached(hgt - 1) : undefined;
  const bt = parent && parent.header.height > 0 ? `${fmtNum((hd.timestamp - parent.header.timestamp) / 1000, 3)} s after its parent` : '';
  const txs = b.transactions as Tx[];
  const head = status.head ?? hgt;
  clear(
    root,
    h('div', { class: 'title-row' },
      h('h1', null, 'Block ', h('span', { class: 'num' }, fmtInt(hgt))),
      h('span', { class: 'pager' },
        hgt > 0 ? h('a', { href: `#/block/${hgt - 1}` }, '← Parent') : null,
        hgt < head ? h('a', { href: `#/block/${hgt + 1}` }, 'Child →') : null)),
    section('Header', kv([
      ['Hash', full(b.hash)],
      ['Height', fmtInt(hgt)],
      ['Time', h('span', null, isoTime(hd.timestamp), ' · ', time(hd.timestamp), bt ? ` · ${bt}` : '')],
      ['Parent', hgt > 0 ? h('a', { href: `#/block/${hd.prev_hash}`, class: 'mono wrap' }, hd.prev_hash) : full(hd.prev_hash)],
      ['Proposer', h('span', null, consLink(hd.proposer_address), hd.round ? ` · round ${hd.round}` : '')],
      ['Transactions', fmtInt(txs.length)],
      ['Gas', `${fmtInt(hd.gas_used)} of ${fmtInt(hd.gas_limit)} (${fmtNum((100 * hd.gas_used) / hd.gas_limit, 2)} %)`],
      ['Share target', h('span', null, h('span', { class: 'mono' }, hd.share_target), ` · difficulty ${fmtNum(difficulty(hd.share_target), 4)}`)],
      cr ? ['Shares', h('span', null, `${fmtInt(cr.shares)} · each minted `, cpc(cr.share_reward))] : null,
      ['Tx root', full(hd.tx_root)],
      ['State root', full(hd.state_root)],
      ['Compute root', full(hd.compute_root)],
      b.certificate ? ['Commit', `round ${b.certificate.round}, ${b.certificate.signatures.length} precommit signature${b.certificate.signatures.length === 1 ? '' : 's'}`] : null,
      ['Chain', hd.chain_id],
    ])),
  );
  const results = cr?.results ?? [];
  root.appendChild(
    section(`Compute results (${results.length})`,
      table('compute-results', ['#', 'Tx', 'Task', 'Worker', 'Kind', 'Share value', 'Reward'],
        results.map((r, i) => [
          String(i), txLink(r.tx_hash), mono(r.result.task_id, 8, 4), addrLink(r.result.worker_address),
          r.synthetic ? badge('share', 'ok') : badge('external'), r.share_value ? h('span', { class: 'mono' }, r.share_value) : '—', r.reward ? cpc(r.reward) : '—',
        ]), { numeric: [6], empty: 'No compute results in this block.' })),
  );
  root.appendChild(
    section(`Transactions (${txs.length})`,
      table('block-txs', ['#', 'Hash', 'Type', 'From', 'To', 'Amount', 'Fee'],
        txs.map((t, i) => [String(t.index ?? i), txLink(t.hash), txTypeBadge(t.tx_type), addrLink(t.from_address), addrLink(t.to_address), cpc(t.amount, 4), cpc(t.fee)]),
        { numeric: [5, 6], empty: 'No transactions in this block.' })),
  );
};

function unwrapOr<T>(o: { ok: boolean; result?: any; error?: RpcError }, dflt: T): T {
  if (o.ok) return (o.result ?? dflt) as T;
  if (o.error && o.error.code === INVALID_PARAMS) return dflt;
  throw o.error;
}

// ---------------------------------------------------------------- transaction

const tx: Render = async (root, arg) => {
  if (!HEX64.test(arg)) return notFound(root, arg, 'as a transaction');
  const hash = arg.toLowerCase();
  const [to, ro] = await batch([['cpc_getTransactionByHash', [hash]], ['cpc_getTransactionReceipt', [hash]]]);
  const t = unwrapOr<Tx | null>(to, null);
  if (!t) return notFound(root, arg, 'as a transaction');
  const r = unwrapOr<any>(ro, null);
  const inBlock = t.block_height !== null && t.block_height !== undefined;
  let cr: ComputeResults | null = null;
  if (inBlock && t.tx_type === 'SUBMIT_RESULT') cr = await call<ComputeResults | null>('cpc_getComputeResults', [t.block_height, false]);
  const share = cr?.results.find((x) => x.tx_hash === hash) ?? null;
  const p = t.payload ?? {};
  const payloadRows: Array<[string, Child] | null> =
    t.tx_type === 'SUBMIT_RESULT'
      ? [
          ['Task id', /^job:[0-9a-f]{64}$/.test(p.task_id ?? '') ? link(`#/job/${p.task_id.slice(4)}`, h('span', { class: 'mono wrap' }, p.task_id)) : full(p.task_id)],
          ['Worker', addrFull(p.worker_address)],
          ['Result hash', full(p.result_hash)],
          p.nonce !== undefined && p.nonce !== null ? ['Task nonce', String(p.nonce)] : null,
          share ? ['Share', share.synthetic ? h('span', null, badge('share', 'ok'), ' value ', h('span', { class: 'mono' }, share.share_value ?? '—'), ' · reward ', cpc(share.reward)) : badge('external result')] : null,
        ]
      : t.tx_type === 'TRANSFER' && p.memo
        ? [['Memo', h('span', { class: 'wrap' }, String(p.memo))]]
        : Object.keys(p).length
          ? [['Payload', h('code', { class: 'mono wrap' }, JSON.stringify(p))]]
          : [];
  clear(
    root,
    h('h1', null, 'Transaction'),
    section('Overview', kv([
      ['Hash', full(t.hash)],
      ['Status', r ? (r.status === 'success' ? badge('success', 'ok') : badge(r.status, 'bad')) : badge('pending', 'warn')],
      ['Block', inBlock ? h('span', null, blockLink(t.block_height), ' · ', blockHashLink(t.block_hash!), ` · index ${t.index}`) : 'pending (in the pool)'],
      ['Type', txTypeBadge(t.tx_type)],
      ['From', addrFull(t.from_address)],
      ['To', addrFull(t.to_address)],
      ['Amount', cpc(t.amount, 18)],
      ['Max fee', h('span', null, cpc(t.fee, 18), ` · gas limit ${fmtInt(t.gas_limit)} × price ${fmtInt(t.gas_price)}`)],
      ['Nonce', fmtInt(t.nonce)],
      ...payloadRows,
    ])),
    h('section', { class: 'card', id: 'tx-receipt' }, h('h2', null, 'Receipt'),
      r
        ? kv([
            ['Status', r.status === 'success' ? badge('success', 'ok') : badge(r.status, 'bad')],
            ['Block', h('span', null, blockLink(r.block_height), ` · index ${r.index}`)],
            ['Gas used', fmtInt(r.gas_used)],
            ['Fee paid', cpc(r.fee_paid, 18)],
            r.error ? ['Error', h('span', { class: 'wrap bad-text' }, r.error)] : null,
          ])
        : h('p', { class: 'muted' }, 'No receipt yet: the transaction waits in the pool.')),
  );
};

// ---------------------------------------------------------------- address

const address: Render = async (root, arg, alive) => {
  const addr = arg.trim();
  const [ao, wo, vo, d, txo] = await batch([
    ['cpc_getAccount', [addr]],
    ['poc_getWorker', [addr]],
    ['cpc_getValidator', [addr]],
    ['cpc_getDelegations', [addr]],
    ['cpc_getAccountTransactions', [addr, 25]],
  ]);
  if (!ao.ok && ao.error.code === INVALID_PARAMS) return notFound(root, addr, 'as an address');
  const acct = unwrap(ao);
  const worker = wo.ok ? wo.result : null;
  const val = vo.ok ? vo.result : null;
  const dels: any[] = d.ok && Array.isArray(d.result) ? d.result : [];
  clear(
    root,
    h('h1', { id: 'address-title', class: 'addr-title' }, h('span', { class: 'muted' }, 'Address '), h('span', { class: 'mono wrap' }, addr)),
    section('Account', kv([
      ['Balance', cpc(acct.balance, 18)],
      ['Nonce', fmtInt(acct.nonce)],
      acct.pending_nonce !== acct.nonce ? ['Pending nonce', fmtInt(acct.pending_nonce)] : null,
      val ? ['Validator', h('span', null, h('a', { href: '#/validators' }, val.moniker || 'validator'), ` · ${fmtInt(val.voting_power)} power · `, val.active ? badge('active', 'ok') : badge('inactive'), val.jailed ? badge('jailed', 'bad') : null)] : null,
    ])),
  );
  if (worker && worker.shares > 0) {
    root.appendChild(
      h('section', { class: 'card', id: 'worker-stats' }, h('h2', null, 'Worker'),
        kv([
          ['Shares', fmtInt(worker.shares)],
          ['Rewards', cpc(worker.rewards)],
          ['Last share', worker.last_share_height !== null ? blockLink(worker.last_share_height) : '—'],
        ])),
    );
  }
  if (dels.length) {
    root.appendChild(section('Delegations', table(null, ['Validator', 'Tokens', 'Pending rewards', 'Unbonding'],
      dels.map((x) => [addrLink(x.validator), cpc(x.tokens, 4), cpc(x.pending_rewards, 6), String(x.unbonding_entries)]), { numeric: [1, 2, 3] })));
  }
  if (!txo.ok && txo.error.code === METHOD_NOT_FOUND) return; // an older node: no account index
  const box = h('div');
  const more = h('div', { class: 'pager' });
  root.appendChild(section('Recent transactions', box, more));
  const rows: Child[][] = [];
  const add = (res: any): void => {
    for (const t of res.transactions ?? []) {
      const out = t.from_address === addr;
      rows.push([
        txLink(t.tx_hash), blockLink(t.block_height), txTypeBadge(t.tx_type),
        out ? badge('out', 'warn') : badge('in', 'ok'),
        t.from_address === addr ? h('span', { class: 'mono muted', title: addr }, 'this address') : addrLink(t.from_address, 8, 4),
        t.to_address === addr ? h('span', { class: 'mono muted', title: addr }, 'this address') : addrLink(t.to_address, 8, 4),
        cpc(t.amount, 4), t.status === 'success' ? badge('ok', 'ok') : badge(String(t.status), 'bad'),
      ]);
    }
    clear(box, table('address-txs', ['Tx', 'Block', 'Type', '', 'From', 'To', 'Amount', 'Status'], rows, { numeric: [6], empty: 'No transactions.' }));
    clear(more);
    if (res.next) {
      const btn = h('button', { type: 'button' }, 'Older →');
      btn.addEventListener('click', async () => {
        btn.setAttribute('disabled', '');
        try {
          const r = await call('cpc_getAccountTransactions', [addr, 25, res.next]);
          if (alive()) add(r);
        } catch {
          btn.removeAttribute('disabled');
        }
      });
      more.appendChild(btn);
    }
  };
  if (txo.ok) add(txo.result ?? { transactions: [], next: null });
  else clear(box, h('p', { class: 'muted' }, `Transactions unavailable: ${txo.error.message}`));
};

// ---------------------------------------------------------------- workers

const workers: Render = async (root, arg, alive) => {
  const n = [100, 250, 500].includes(Number(arg)) ? Number(arg) : N;
  const body = h('div', null, h('p', { class: 'loading' }, `Loading the last ${n} blocks…`));
  const choose = h('span', { class: 'pager' }, 'Window: ', [100, 250, 500].map((k) => (k === n ? h('strong', null, ` ${k} `) : h('a', { href: k === N ? '#/workers' : `#/workers/${k}` }, ` ${k} `))), 'blocks');
  clear(root, h('div', { class: 'title-row' }, h('h1', null, 'Workers'), choose), section(`Shares and rewards over the last ${n} blocks`, body));
  let lastTotals = 0;
  const totals = new Map<string, any>();
  const update = serial(async () => {
    const head = status.head ?? (await call<number>('cpc_blockNumber'));
    const sums = await summariesRange(Math.max(1, head - n + 1), head);
    if (!alive()) return;
    const agg = new Map<string, { shares: number; rewards: bigint; last: number }>();
    let all = 0;
    for (const s of sums) {
      for (const r of s.cr?.results ?? []) {
        if (!r.synthetic) continue;
        const w = r.result.worker_address;
        const a = agg.get(w) ?? { shares: 0, rewards: 0n, last: 0 };
        a.shares++;
        a.rewards += BigInt(r.reward ?? '0');
        a.last = Math.max(a.last, s.header.height);
        agg.set(w, a);
        all++;
      }
    }
    const ranked = [...agg.entries()].sort((x, y) => y[1].shares - x[1].shares || (x[0] < y[0] ? -1 : 1));
    const top = ranked.slice(0, 25).map(([w]) => w);
    if (Date.now() - lastTotals > 5000 || top.some((w) => !totals.has(w))) {
      const out = await batch(top.map((w) => ['poc_getWorker', [w]]));
      out.forEach((o, i) => o.ok && totals.set(top[i], o.result));
      lastTotals = Date.now();
      if (!alive()) return;
    }
    const rows = ranked.map(([w, a], i) => {
      const t = totals.get(w);
      return [String(i + 1), addrLink(w, 14, 6), fmtInt(a.shares), `${fmtNum((100 * a.shares) / Math.max(1, all), 1)} %`, cpc(a.rewards.toString(), 4),
        blockLink(a.last), t ? fmtInt(t.shares) : '—', t ? cpc(t.rewards, 4) : '—'];
    });
    clear(body,
      h('p', { class: 'muted' }, `${fmtInt(all)} shares by ${fmtInt(ranked.length)} worker${ranked.length === 1 ? '' : 's'} in blocks ${fmtInt(sums[0]?.header.height ?? 0)}–${fmtInt(head)}.`),
      table('workers-table', ['#', 'Worker', 'Shares', 'Share', 'Rewards', 'Last share', 'All-time shares', 'All-time rewards'], rows, { numeric: [2, 3, 4, 6, 7], empty: 'No shares in this window.' }));
  });
  update();
  return { onHead: update };
};

// ---------------------------------------------------------------- validators

const validators: Render = async (root, _arg, alive) => {
  const cons = h('div');
  const body = h('div', null, h('p', { class: 'loading' }, 'Loading…'));
  clear(root, h('h1', null, 'Validators'), section('Consensus', cons), section('Validators', body));
  let last = 0;
  const update = serial(async () => {
    if (Date.now() - last < 3000) return;
    last = Date.now();
    const [vo, so, co] = await batch([['cpc_getValidators'], ['cpc_getActiveSet'], ['cpc_consensusState']]);
    if (!alive()) return;
    const vals: any[] = unwrap(vo) ?? [];
    const set = so.ok ? so.result : null;
    const cs = co.ok ? co.result : null;
    const power = new Map<string, number>((set?.members ?? []).map((m: any) => [m.operator, m.power]));
    clear(cons, kv([
      cs ? ['Mode', cs.mode.replace(/_/g, ' ')] : null,
      cs ? ['Deciding height', h('span', null, fmtInt(cs.height), cs.round !== undefined ? ` · round ${cs.round}` : '', cs.step ? ` · ${cs.step}` : '')] : null,
      cs ? ['Committed', blockLink(cs.committed_height)] : null,
      cs?.proposer ? ['Proposer', consLink(cs.proposer)] : null,
      set ? ['Active set', `${fmtInt(set.members.length)} validator${set.members.length === 1 ? '' : 's'}, ${fmtInt(set.total_power)} power, for height ${fmtInt(set.height)}`] : null,
    ]));
    const rows = vals.map((v) => {
      const p = power.get(v.operator);
      return [
        h('strong', null, v.moniker || '—'), addrLink(v.operator, 10, 6), h('span', { class: 'mono', title: `${v.consensus_address}\nkey ${v.consensus_key}` }, v.consensus_address.slice(0, 14) + '…' + v.consensus_address.slice(-6)),
        cpc(v.tokens, 2), fmtInt(v.voting_power), p !== undefined && set ? `${fmtNum((100 * p) / set.total_power, 2)} %` : '—',
        `${fmtNum(v.commission.rate_bps / 100, 2)} %`,
        v.tombstoned ? badge('tombstoned', 'bad') : v.jailed ? badge('jailed', 'bad') : v.active ? badge('active', 'ok') : badge('inactive'),
        fmtInt(v.missed_in_window), cpc(v.commission_pending, 4),
      ];
    });
    clear(body, table('validators-table', ['Moniker', 'Operator', 'Consensus address', 'Bonded', 'Voting power', 'Of set', 'Commission', 'Status', 'Missed', 'Commission pending'], rows,
      { numeric: [3, 4, 5, 6, 8, 9], empty: 'No validators.' }));
  });
  update();
  return { onHead: update };
};

// ---------------------------------------------------------------- jobs (the task market)

function jobStatus(st: string): HTMLElement {
  return st === 'done' ? badge('done', 'ok') : st === 'claimed' ? badge('claimed', 'warn') : st === 'open' ? badge('open') : badge(st, 'bad');
}

function jobLink(id: string, head = 10, tail = 6): HTMLElement {
  return link(`#/job/${id}`, mono(id, head, tail));
}

const jobs: Render = async (root, _arg, alive) => {
  const body = h('div', null, h('p', { class: 'loading' }, 'Loading…'));
  const params = h('div');
  clear(root, h('h1', null, 'Jobs'), section('Market', params), section('Open jobs', body));
  const update = serial(async () => {
    const [po, jo] = await batch([['job_getParams'], ['job_getOpenJobs', [100]]]);
    if (!alive()) return;
    const p = po.ok ? po.result : null;
    if (!p || !p.enabled) {
      clear(params, h('p', { class: 'muted' }, 'The task market is not enabled on this chain.'));
      clear(body);
      return;
    }
    clear(params, kv([
      ['Protocol fee', `${fmtNum(p.fee_bps / 100, 2)} % of the price`],
      ['Escrow account', addrLink(p.escrow_address, 14, 6)],
      ['Longest claim', `${fmtInt(p.max_claim_blocks)} blocks`],
    ]));
    const open: any[] = jo.ok ? jo.result : [];
    const rows = open.map((j) => [jobLink(j.id), `${j.m} × ${j.k} × ${j.n}`, cpc(j.price, 4), cpc(j.bond, 4), addrLink(j.poster), blockLink(j.deadline)]);
    clear(body, table('jobs-table', ['Job', 'Shape (m × k × n)', 'Price', 'Bond', 'Poster', 'Deadline'], rows, { numeric: [2, 3], empty: 'No open jobs.' }));
  });
  update();
  return { onHead: update };
};

const job: Render = async (root, arg, alive) => {
  const id = arg.toLowerCase().replace(/^job:/, '');
  if (!HEX64.test(id)) return notFound(root, arg, 'as a job');
  const body = h('div', null, h('p', { class: 'loading' }, 'Loading…'));
  clear(root, h('h1', null, 'Job'), body);
  const update = serial(async () => {
    const [jo, ro, po] = await batch([['job_getJob', [id]], ['poc_getResultByTask', [`job:${id}`]], ['job_getParams']]);
    if (!alive()) return;
    const j = jo.ok ? jo.result : null;
    if (!j) return notFound(root, arg, 'as a job');
    const r = ro.ok ? ro.result : null;
    const fee = po.ok && po.result ? (BigInt(j.price) * BigInt(po.result.fee_bps)) / 10000n : null;
    clear(body, h('div', { id: 'job-overview', 'data-status': j.status }, section('Overview', kv([
      ['Job id', full(j.id)],
      ['Status', jobStatus(j.status)],
      ['Posted', h('span', null, txLink(j.id), ' in block ', blockLink(j.posted_height))],
      ['Poster', addrFull(j.poster)],
      ['Shape', `A ${j.m} × ${j.k} · B ${j.k} × ${j.n} (int8) → C ${j.m} × ${j.n} (int32)`],
      ['Price', fee !== null ? h('span', null, cpc(j.price, 6), ' · the worker gets ', cpc((BigInt(j.price) - fee).toString(), 6)) : cpc(j.price, 6)],
      ['Bond', cpc(j.bond, 6)],
      ['Deadline', h('span', null, blockLink(j.deadline), ` · claims last ${fmtInt(j.claim_blocks)} blocks`)],
      ['Input A', full(j.a_root)],
      ['Input B', full(j.b_root)],
      j.claimant ? ['Claimant', h('span', null, addrLink(j.claimant, 14, 6), j.claim_until !== null ? h('span', null, ' until ', blockLink(j.claim_until)) : '')] : null,
      ['Claims', fmtInt(j.claims)],
      j.result_root ? ['Result C', full(j.result_root)] : null,
      r ? ['Result transaction', h('span', null, txLink(r.tx_hash), ' in block ', blockLink(r.block_height))] : null,
      j.closed_height !== null ? ['Closed', blockLink(j.closed_height)] : null,
      ['Task id', full(j.task_id)],
    ]))));
  });
  update();
  return { onHead: update };
};

// ---------------------------------------------------------------- search

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

const search: Render = async (root, arg, alive) => {
  const q = arg.trim();
  const go = (hash: string): void => {
    if (alive()) location.replace(hash);
  };
  clear(root, h('p', { class: 'loading' }, `Searching for ${q}…`));
  if (/^\d+$/.test(q)) return go(`#/block/${Number(q)}`);
  if (HEX64.test(q)) {
    const hx = q.toLowerCase();
    const [b, t, j] = await batch([['cpc_getBlockByHash', [hx, false]], ['cpc_getTransactionByHash', [hx]], ['job_getJob', [hx]]]);
    if (b.ok && b.result) return go(`#/block/${hx}`);
    if (j.ok && j.result) return go(`#/job/${hx}`);
    if (t.ok && t.result) return go(`#/tx/${hx}`);
    return notFound(root, q);
  }
  if (/^job:[0-9a-f]{64}$/i.test(q)) return go(`#/job/${q.slice(4).toLowerCase()}`);
  if (UUID.test(q)) {
    try {
      const r = await call<any>('poc_getResultByTask', [q.toLowerCase()]);
      if (r && r.tx_hash) return go(`#/tx/${r.tx_hash}`);
    } catch (e) {
      if (!(e instanceof RpcError)) throw e;
      if (e.code === METHOD_NOT_FOUND) return notFound(root, q, '(this node cannot look up task ids)');
    }
    return notFound(root, q);
  }
  const lower = q.toLowerCase();
  if (lower.startsWith('cpcvalcons1')) return go('#/validators');
  if (lower.startsWith('cpc1')) {
    try {
      await call('cpc_getAccount', [lower]);
      return go(`#/address/${lower}`);
    } catch (e) {
      if (e instanceof RpcError && e.code === INVALID_PARAMS) return notFound(root, q);
      throw e;
    }
  }
  return notFound(root, q);
};

const notfound: Render = async (root, arg) => notFound(root, arg || location.hash, '(no such page)');

export const routes: Record<string, Render> = {
  overview, blocks, block, tx, address, workers, validators, jobs, job, search, notfound,
};

