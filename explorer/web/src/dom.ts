// Small DOM helpers: no framework, every page is built from these.

export type Child = Node | string | number | null | undefined | false | Child[];
type Attrs = Record<string, string | number | boolean | null | undefined | ((ev: Event) => void)>;

export function h(tag: string, attrs?: Attrs | null, ...children: Child[]): HTMLElement {
  const el = document.createElement(tag);
  if (attrs) {
    for (const [k, v] of Object.entries(attrs)) {
      if (v === null || v === undefined || v === false) continue;
      if (typeof v === 'function') el.addEventListener(k.replace(/^on/, ''), v);
      else if (k === 'class') el.className = String(v);
      else el.setAttribute(k, v === true ? '' : String(v));
    }
  }
  append(el, children);
  return el;
}

export function append(el: Node, children: Child[]): void {
  for (const c of children) {
    if (c === null || c === undefined || c === false) continue;
    if (Array.isArray(c)) append(el, c);
    else if (c instanceof Node) el.appendChild(c);
    else el.appendChild(document.createTextNode(String(c)));
  }
}

export function clear(el: Element, ...children: Child[]): void {
  el.replaceChildren();
  append(el, children);
}

/** The middle of a long value elided, the whole of it in the title. */
export function short(v: string, head = 8, tail = 6): string {
  return v.length <= head + tail + 1 ? v : `${v.slice(0, head)}…${v.slice(-tail)}`;
}

export function mono(v: string, head = 8, tail = 6): HTMLElement {
  return h('span', { class: 'mono', title: v }, short(v, head, tail));
}

export function link(href: string, ...children: Child[]): HTMLElement {
  return h('a', { href }, ...children);
}

export function blockLink(height: number | null | undefined): Child {
  if (height === null || height === undefined) return '—';
  return h('a', { href: `#/block/${height}`, class: 'num' }, fmtInt(height));
}

export function blockHashLink(hash: string, head = 8, tail = 6): HTMLElement {
  return h('a', { href: `#/block/${hash}`, class: 'mono', title: hash }, short(hash, head, tail));
}

export function txLink(hash: string, head = 8, tail = 6): HTMLElement {
  return h('a', { href: `#/tx/${hash}`, class: 'mono', title: hash }, short(hash, head, tail));
}

export function addrLink(addr: string | null | undefined, head = 10, tail = 6): Child {
  if (!addr) return '—';
  return h('a', { href: `#/address/${addr}`, class: 'mono', title: addr }, short(addr, head, tail));
}

/** The whole address, wrapping where it must: for detail pages. */
export function addrFull(addr: string | null | undefined): Child {
  if (!addr) return '—';
  return h('a', { href: `#/address/${addr}`, class: 'mono wrap' }, addr);
}

/** A `cpcvalcons1…` address: validators have no page of their own but the validators list. */
export function consLink(addr: string | null | undefined): Child {
  if (!addr) return '—';
  return h('a', { href: '#/validators', class: 'mono', title: addr }, short(addr, 14, 6));
}

export function fmtInt(n: number | bigint): string {
  return n.toLocaleString('en-US');
}

const ONE = 10n ** 18n;

/** Base units (decimal string) as CPC, BigInt math, at most `decimals` fraction digits, rounded down. */
export function fmtCPC(units: string | null | undefined, decimals = 6): string {
  if (units === null || units === undefined) return '—';
  let v: bigint;
  try {
    v = BigInt(units);
  } catch {
    return units;
  }
  const neg = v < 0n;
  if (neg) v = -v;
  const int = v / ONE;
  const frac = v % ONE;
  const digits = frac.toString().padStart(18, '0');
  // A dust amount (fees are) shows in full rather than as 0.
  const f = (int === 0n && frac > 0n && !digits.slice(0, decimals).replace(/0+$/, '') ? digits : digits.slice(0, decimals)).replace(/0+$/, '');
  let s = int.toLocaleString('en-US');
  if (f) s += '.' + f;
  return (neg ? '-' : '') + s;
}

export function cpc(units: string | null | undefined, decimals = 6): HTMLElement {
  return h('span', { class: 'amt', title: units ? `${units} base units` : null }, fmtCPC(units, decimals), h('span', { class: 'unit' }, ' CPC'));
}

/** A float with SI prefix: 1234567 → "1.23 M". */
export function si(v: number | null | undefined, unit = ''): string {
  if (v === null || v === undefined || !isFinite(v)) return '—';
  if (v === 0) return unit ? `0 ${unit}` : '0';
  const prefixes = ['', 'k', 'M', 'G', 'T', 'P', 'E'];
  let i = 0;
  let x = Math.abs(v);
  while (x >= 1000 && i < prefixes.length - 1) {
    x /= 1000;
    i++;
  }
  const digits = x >= 100 ? 0 : x >= 10 ? 1 : 2;
  const s = (v < 0 ? '-' : '') + x.toFixed(digits);
  return `${s}${prefixes[i] || unit ? ' ' : ''}${prefixes[i]}${unit}`;
}

export function fmtNum(v: number | null | undefined, digits = 2): string {
  if (v === null || v === undefined || !isFinite(v)) return '—';
  return v.toLocaleString('en-US', { maximumFractionDigits: digits });
}

export function ago(ms: number, now = Date.now()): string {
  const s = Math.max(0, Math.round((now - ms) / 1000));
  if (s < 60) return `${s} s ago`;
  if (s < 3600) return `${Math.floor(s / 60)} min ago`;
  if (s < 86400) return `${Math.floor(s / 3600)} h ago`;
  return `${Math.floor(s / 86400)} d ago`;
}

export function isoTime(ms: number): string {
  return new Date(ms).toISOString().replace('T', ' ').replace(/\.\d+Z$/, ' UTC');
}

export function time(ms: number): HTMLElement {
  return h('span', { title: isoTime(ms), 'data-ts': ms, class: 'age' }, ago(ms));
}

/** Refreshes every "… ago" under `root`. */
export function refreshAges(root: ParentNode): void {
  const now = Date.now();
  root.querySelectorAll<HTMLElement>('.age[data-ts]').forEach((el) => {
    el.textContent = ago(Number(el.dataset.ts), now);
  });
}

export function table(id: string | null, head: string[], rows: Child[][], opts: { numeric?: number[]; empty?: string } = {}): HTMLElement {
  const num = new Set(opts.numeric ?? []);
  const tbody = h('tbody', null, ...rows.map((r) => h('tr', null, ...r.map((c, i) => h('td', num.has(i) ? { class: 'r' } : null, c)))));
  const t = h(
    'table',
    { id },
    h('thead', null, h('tr', null, ...head.map((c, i) => h('th', num.has(i) ? { class: 'r' } : null, c)))),
    tbody,
  );
  const wrap = h('div', { class: 'table-wrap' }, t);
  if (rows.length === 0 && opts.empty) wrap.appendChild(h('p', { class: 'empty' }, opts.empty));
  return wrap;
}

/** A definition list of label → value rows. */
export function kv(rows: Array<[string, Child] | null | false>): HTMLElement {
  const dl = h('dl', { class: 'kv' });
  for (const r of rows) {
    if (!r) continue;
    dl.appendChild(h('dt', null, r[0]));
    dl.appendChild(h('dd', null, r[1]));
  }
  return dl;
}

export function section(title: Child, ...children: Child[]): HTMLElement {
  return h('section', { class: 'card' }, h('h2', null, title), ...children);
}

export function badge(text: string, kind: 'ok' | 'bad' | 'warn' | 'muted' = 'muted'): HTMLElement {
  return h('span', { class: `badge ${kind}` }, text);
}

/** The full value, monospace, wrapping, for a detail page. */
export function full(v: string | null | undefined): Child {
  if (v === null || v === undefined || v === '') return '—';
  return h('span', { class: 'mono wrap' }, v);
}
