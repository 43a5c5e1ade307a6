// Chain data: types, a cache of committed blocks by height (they never change once committed),
// the live head (newHeads over WebSocket, else polling) and the node's status.

import { batch, call, onNet, setEndpoint, type Call } from './rpc';

export interface Header {
  height: number;
  prev_hash: string;
  timestamp: number;
  chain_id: string;
  proposer_address: string;
  round: number;
  tx_root: string;
  state_root: string;
  compute_root: string;
  gas_used: number;
  gas_limit: number;
  share_target: string;
}

export interface Tx {
  hash: string;
  chain_id: string;
  tx_type: string;
  from_address: string;
  to_address: string | null;
  amount: string;
  fee: string;
  nonce: number;
  gas_price: number;
  gas_limit: number;
  payload: any;
  pub_key?: string;
  signature?: string;
  block_height?: number | null;
  block_hash?: string | null;
  index?: number | null;
}

export interface Block {
  hash: string;
  header: Header;
  transactions: Array<string | Tx>;
  proposer_pub_key: string;
  signature: string;
  certificate?: { height: number; round: number; block_hash: string; signatures: Array<{ validator: string; signature: string }> };
}

export interface ComputeResult {
  tx_hash: string;
  result: { task_id: string; worker_address: string; result_hash: string; proof?: string | null; nonce?: number | null; signature?: string | null };
  synthetic: boolean;
  share_value: string | null;
  reward: string | null;
}

export interface ComputeResults {
  height: number;
  block_hash: string;
  compute_root: string;
  results: ComputeResult[];
  shares: number;
  share_reward: string;
  share_target: string;
}

/** What the cache keeps of a block: its header, hash, tx count and compute results. */
export interface Summary {
  hash: string;
  header: Header;
  tx_count: number;
  cr?: ComputeResults;
}

const TWO64 = 18446744073709551616;

/** 2^64 / (share_target + 1), the expected tasks per share. */
export function difficulty(target: string): number {
  return TWO64 / (Number(BigInt('0x' + target)) + 1);
}

// ---------------------------------------------------------------- config

export interface Config {
  ws: string | null;
  chain_id: string;
  rpc?: string;
}

export let config: Config = { ws: null, chain_id: '' };

export async function loadConfig(): Promise<Config> {
  const res = await fetch('./config.json', { cache: 'no-store' });
  if (!res.ok) throw new Error(`config.json: HTTP ${res.status}`);
  config = await res.json();
  if (config.rpc) setEndpoint(config.rpc);
  return config;
}

// ---------------------------------------------------------------- cache

const summaries = new Map<number, Summary>();

function strip(cr: ComputeResults): ComputeResults {
  // Proofs are most of the bytes and nothing here shows them.
  for (const r of cr.results) delete r.result.proof;
  return cr;
}

export function cached(height: number): Summary | undefined {
  return summaries.get(height);
}

const KEEP = 1200;

/** Keeps the cache to the blocks near the head (a page left open for days would grow it). */
function prune(): void {
  if (summaries.size <= KEEP + 200) return;
  const heights = [...summaries.keys()].sort((a, b) => b - a);
  for (const h of heights.slice(KEEP)) summaries.delete(h);
}

function put(s: Summary): void {
  summaries.set(s.header.height, s);
  prune();
}

export function putBlock(b: Block): void {
  const prev = summaries.get(b.header.height);
  put({ hash: b.hash, header: b.header, tx_count: b.transactions.length, cr: prev?.cr });
}

/** Summaries (header and compute results) of heights [from, to], from the cache or one batch. */
export async function summariesRange(from: number, to: number): Promise<Summary[]> {
  from = Math.max(0, from);
  const calls: Call[] = [];
  const want: Array<[number, 'b' | 'c']> = [];
  for (let h = from; h <= to; h++) {
    const s = summaries.get(h);
    if (!s) {
      calls.push(['cpc_getBlockByNumber', [h, false]]);
      want.push([h, 'b']);
    }
    if (!s || !s.cr) {
      calls.push(['cpc_getComputeResults', [h, false]]);
      want.push([h, 'c']);
    }
  }
  if (calls.length) {
    const out = await batch(calls, 50);
    const crs = new Map<number, ComputeResults>();
    out.forEach((o, i) => {
      const [h, kind] = want[i];
      if (!o.ok || !o.result) return;
      if (kind === 'b') putBlock(o.result as Block);
      else crs.set(h, strip(o.result as ComputeResults));
    });
    for (const [h, cr] of crs) {
      const s = summaries.get(h);
      if (s) s.cr = cr;
    }
  }
  const res: Summary[] = [];
  for (let h = from; h <= to; h++) {
    const s = summaries.get(h);
    if (s) res.push(s);
  }
  return res;
}

// ---------------------------------------------------------------- head and status

export type NodeState = 'ok' | 'syncing' | 'down';
export interface Status {
  state: NodeState;
  head: number | null;
  syncing: { starting_block: number; current_block: number; highest_block: number } | null;
}

export const status: Status = { state: 'ok', head: null, syncing: null };
let reachable = true;
const headListeners: Array<(h: number) => void> = [];
const statusListeners: Array<(s: Status) => void> = [];

export function onHead(fn: (h: number) => void): void {
  headListeners.push(fn);
}
export function onStatus(fn: (s: Status) => void): void {
  statusListeners.push(fn);
}

function emitStatus(): void {
  const state: NodeState = !reachable ? 'down' : status.syncing ? 'syncing' : 'ok';
  status.state = state;
  for (const fn of statusListeners) fn(status);
}

function setHead(h: number): void {
  if (status.head !== null && h <= status.head) return;
  status.head = h;
  for (const fn of headListeners) {
    try {
      fn(h);
    } catch (e) {
      console.info('head listener failed', e);
    }
  }
}

onNet((up) => {
  if (up !== reachable) {
    reachable = up;
    emitStatus();
  }
});

let ws: WebSocket | null = null;
let wsLive = false;

function openWs(url: string): void {
  let sock: WebSocket;
  try {
    sock = new WebSocket(url);
  } catch {
    setTimeout(() => openWs(url), 2000);
    return;
  }
  ws = sock;
  sock.onopen = () => sock.send(JSON.stringify({ jsonrpc: '2.0', id: 1, method: 'cpc_subscribe', params: ['newHeads'] }));
  sock.onmessage = (ev) => {
    let m: any;
    try {
      m = JSON.parse(String(ev.data));
    } catch {
      return;
    }
    if (m.id === 1 && m.result) wsLive = true;
    if (m.method === 'cpc_subscription' && m.params?.result?.header) {
      const r = m.params.result;
      const prev = summaries.get(r.header.height);
      put({ hash: r.hash, header: r.header, tx_count: r.tx_count, cr: prev?.cr });
      setHead(r.header.height);
    }
  };
  sock.onclose = () => {
    wsLive = false;
    ws = null;
    // Polling takes over meanwhile; try again later.
    setTimeout(() => openWs(url), 3000);
  };
  sock.onerror = () => {
    /* onclose follows */
  };
}

async function tick(): Promise<void> {
  try {
    const [bn, sy] = await batch([['cpc_blockNumber'], ['cpc_syncing']]);
    status.syncing = sy.ok && sy.result ? sy.result : null;
    emitStatus();
    if (bn.ok) setHead(bn.result as number);
  } catch {
    // NetError: the banner says so; keep trying.
  }
}

async function heartbeat(): Promise<void> {
  let n = 0;
  for (;;) {
    // With a live WebSocket only the syncing state needs asking, every 5 s.
    if (!wsLive || !reachable || n % 5 === 0) await tick();
    n++;
    await new Promise((r) => setTimeout(r, 1000));
  }
}

export async function start(): Promise<void> {
  // config.json comes from the node too: wait for it.
  for (;;) {
    try {
      await loadConfig();
      break;
    } catch {
      reachable = false;
      emitStatus();
      await new Promise((r) => setTimeout(r, 1000));
    }
  }
  if (!config.chain_id) {
    try {
      config.chain_id = await call<string>('cpc_chainId');
    } catch {
      /* shown later */
    }
  }
  if (config.ws && !ws) openWs(config.ws);
  void heartbeat();
}
