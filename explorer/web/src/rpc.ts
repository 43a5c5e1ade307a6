// JSON-RPC 2.0 over same-origin POST (or the `rpc` of /config.json), batches included.

export class RpcError extends Error {
  constructor(
    public code: number,
    message: string,
    public data?: unknown,
  ) {
    super(message);
  }
}

/** The node could not be reached (network error, timeout, HTTP error). */
export class NetError extends Error {}

export type Call = [method: string, params?: unknown[]];
export type Outcome<T = any> = { ok: true; result: T } | { ok: false; error: RpcError };

let endpoint = location.origin + '/';
let nextId = 1;
const netListeners: Array<(up: boolean) => void> = [];

export function setEndpoint(url: string): void {
  endpoint = url;
}

/** Called with false on every failed request and true on every answered one. */
export function onNet(fn: (up: boolean) => void): void {
  netListeners.push(fn);
}

function notify(up: boolean): void {
  for (const fn of netListeners) fn(up);
}

async function post(body: unknown): Promise<any> {
  const ctl = new AbortController();
  const timer = setTimeout(() => ctl.abort(), 10000);
  let res: Response;
  try {
    res = await fetch(endpoint, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify(body),
      signal: ctl.signal,
      cache: 'no-store',
    });
  } catch (e) {
    notify(false);
    throw new NetError(String(e));
  } finally {
    clearTimeout(timer);
  }
  let json: any;
  try {
    json = await res.json();
  } catch (e) {
    notify(false);
    throw new NetError(`HTTP ${res.status}: not JSON`);
  }
  notify(true);
  return json;
}

function outcome(r: any): Outcome {
  if (r && r.error) return { ok: false, error: new RpcError(r.error.code, r.error.message, r.error.data) };
  return { ok: true, result: r ? r.result : null };
}

/** One call; an RPC error is thrown as RpcError. */
export async function call<T = any>(method: string, params: unknown[] = []): Promise<T> {
  const r = await post({ jsonrpc: '2.0', id: nextId++, method, params });
  const o = outcome(r);
  if (!o.ok) throw o.error;
  return o.result as T;
}

/** Many calls in one POST; outcomes in call order. Large batches are split. */
export async function batch(calls: Call[], chunk = 100): Promise<Outcome[]> {
  const out: Outcome[] = [];
  for (let i = 0; i < calls.length; i += chunk) {
    const part = calls.slice(i, i + chunk);
    const first = nextId;
    nextId += part.length;
    const body = part.map(([method, params], j) => ({ jsonrpc: '2.0', id: first + j, method, params: params ?? [] }));
    const res = await post(body);
    if (!Array.isArray(res)) {
      // The whole batch was refused (rate limit, too large): every call gets that error.
      const o = outcome(res);
      const err = o.ok ? new RpcError(-32603, 'batch answered with one object') : o.error;
      for (let j = 0; j < part.length; j++) out.push({ ok: false, error: err });
      continue;
    }
    const byId = new Map<number, any>();
    for (const r of res) byId.set(r.id, r);
    for (let j = 0; j < part.length; j++) {
      const r = byId.get(first + j);
      out.push(r ? outcome(r) : { ok: false, error: new RpcError(-32603, 'no answer in batch') });
    }
  }
  return out;
}

/** The result of an outcome or a throw of its error. */
export function unwrap<T = any>(o: Outcome<T>): T {
  if (!o.ok) throw o.error;
  return o.result;
}

export const METHOD_NOT_FOUND = -32601;
export const INVALID_PARAMS = -32602;
