import './style.css';
import { config, onHead, onStatus, start, status, type Status } from './chain';
import { clear, h, refreshAges } from './dom';
import { NetError, RpcError } from './rpc';
import { routes, type Page } from './pages';

const app = document.getElementById('app')!;
const banner = document.getElementById('node-status')!;
let current: Page | null = null;
let generation = 0;
let waitingForNode = false;

function showStatus(s: Status): void {
  banner.dataset.state = s.state;
  if (s.state === 'down') banner.textContent = 'Node unreachable — retrying';
  else if (s.state === 'syncing' && s.syncing)
    banner.textContent = `Syncing: block ${s.syncing.current_block.toLocaleString('en-US')} of ${s.syncing.highest_block.toLocaleString('en-US')}`;
  else banner.textContent = '';
  if (s.state !== 'down' && waitingForNode) {
    waitingForNode = false;
    void render();
  }
}

function parseHash(): { name: string; arg: string } {
  const raw = location.hash.replace(/^#\/?/, '');
  const i = raw.indexOf('/');
  const name = i < 0 ? raw : raw.slice(0, i);
  let arg = i < 0 ? '' : raw.slice(i + 1);
  try {
    arg = decodeURIComponent(arg);
  } catch {
    /* keep it raw */
  }
  return { name: name || 'overview', arg };
}

async function render(): Promise<void> {
  const gen = ++generation;
  current?.dispose?.();
  current = null;
  const { name, arg } = parseHash();
  document.querySelectorAll<HTMLElement>('nav a').forEach((a) => a.classList.toggle('active', a.dataset.nav === name));
  const route = routes[name] ?? routes.notfound;
  const root = h('div', { class: 'page' });
  clear(app, root);
  clear(root, h('p', { class: 'loading' }, 'Loading…'));
  try {
    const page = await route(root, name === 'notfound' || !routes[name] ? location.hash : arg, () => gen === generation);
    if (gen !== generation) {
      page?.dispose?.();
      return;
    }
    current = page ?? null;
  } catch (e) {
    if (gen !== generation) return;
    if (e instanceof NetError) {
      waitingForNode = true;
      clear(root, h('div', { class: 'card pending' }, h('p', null, 'Waiting for the node… this page loads as soon as it answers.')));
    } else if (e instanceof RpcError) {
      clear(root, h('div', { class: 'card error' }, h('h2', null, 'The node answered with an error'), h('p', { class: 'mono wrap' }, `${e.code}: ${e.message}`)));
    } else {
      console.info('render failed', e);
      clear(root, h('div', { class: 'card error' }, h('p', null, `Something went wrong: ${String(e)}`)));
    }
  }
  if (status.state !== 'down') window.scrollTo(0, 0);
}

document.getElementById('search-form')!.addEventListener('submit', (ev) => {
  ev.preventDefault();
  const input = document.getElementById('search') as HTMLInputElement;
  const q = input.value.trim();
  if (!q) return;
  input.blur();
  input.value = '';
  const target = '#/search/' + encodeURIComponent(q);
  if (location.hash === target) void render();
  else location.hash = target;
});

window.addEventListener('hashchange', () => void render());
window.addEventListener('unhandledrejection', (ev) => {
  // Every promise is handled; this is a last guard so that nothing reaches the console as an error.
  ev.preventDefault();
  console.info('unhandled', ev.reason);
});

onStatus(showStatus);
onHead((height) => {
  current?.onHead?.(height);
  refreshAges(app);
});
setInterval(() => refreshAges(app), 5000);

void (async () => {
  showStatus(status);
  await start();
  const chain = document.getElementById('chain-id')!;
  chain.textContent = config.chain_id;
  document.title = `cpcd explorer · ${config.chain_id}`;
  await render();
})();
