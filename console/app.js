// The console: a hash router over the pages, the token prompt, and the
// description of the API loaded once (capabilities.js reads it).
import { onUnauthorized, setToken, token, loadDescription, get, ApiError } from './api.js';
import { h, replace, errorBox, empty } from './ui.js';
import overview from './page-overview.js';
import schemas from './page-schemas.js';
import transformations from './page-transformations.js';
import partners from './page-partners.js';
import subscriptions from './page-subscriptions.js';
import deliveries from './page-deliveries.js';
import send from './page-send.js';

// To add a page: write page-<name>.js exporting {title, render(main, params, ctx)}
// (render may return a function called when the page is left), import it
// here, add it to PAGES and add a link to the nav in index.html.
const PAGES = { overview, schemas, transformations, partners, subscriptions, deliveries, send };

let leave = null;      // the current page's clean-up
let generation = 0;    // a page rendered for an older hash changes nothing

function parseHash() {
  const raw = location.hash.replace(/^#\/?/, '');
  const [path, query = ''] = raw.split('?');
  // A link cut short or edited by hand may hold a malformed %-sequence:
  // that part is taken as written rather than stop the routing.
  const parts = path.split('/').filter(Boolean).map((p) => { try { return decodeURIComponent(p); } catch { return p; } });
  const name = PAGES[parts[0]] ? parts[0] : 'overview';
  return { name, rest: parts.slice(1), query: new URLSearchParams(query) };
}

export function go(hash) {
  if (location.hash === hash) route();
  else location.hash = hash;
}

async function route() {
  const { name, rest, query } = parseHash();
  if (leave) { try { leave(); } catch { /* a page's clean-up never stops navigation */ } leave = null; }
  const main = document.getElementById('main');
  const mine = ++generation;
  for (const a of document.querySelectorAll('#nav a')) {
    if (a.dataset.page === name) a.setAttribute('aria-current', 'page');
    else a.removeAttribute('aria-current');
  }
  document.title = `${PAGES[name].title} · hookloop console`;
  replace(main);
  try {
    const out = await PAGES[name].render(main, { rest, query }, { go, isCurrent: () => mine === generation });
    if (mine !== generation) { if (typeof out === 'function') out(); return; }
    leave = typeof out === 'function' ? out : null;
  } catch (e) {
    if (mine !== generation) return;
    const head = h('h1', { tabindex: '-1', id: 'page-title' }, PAGES[name].title);
    if (e instanceof ApiError && e.status === 401) {
      replace(main, head, empty('Sign in with the admin token to see this page.',
        h('button', { type: 'button', class: 'primary', onclick: () => askToken('admin', 'Enter the admin token (HOOKLOOP_ADMIN_TOKEN).') }, 'Sign in')));
    } else {
      replace(main, head, errorBox(e));
    }
  }
  const title = document.getElementById('page-title');
  if (title && mine === generation && focusOnRender) title.focus();
  focusOnRender = true;
}
let focusOnRender = false; // not on the first load: the skip link stays first

// --- the token prompt ---------------------------------------------------------
const dialog = () => document.getElementById('token-dialog');

function askToken(kind, why) {
  const d = dialog();
  document.getElementById('token-why').textContent = why;
  // Already asking: a poll's 401 (every few seconds on the Overview) only
  // updates the reason, and leaves what is being typed, and where, alone.
  if (d.open) return;
  document.getElementById('token-admin').value = token('admin');
  document.getElementById('token-api').value = token('api');
  d.showModal();
  document.getElementById(kind === 'api' ? 'token-api' : 'token-admin').focus();
}

onUnauthorized((kind) => askToken(kind, kind === 'api'
  ? 'The producer API refused the API token (HOOKLOOP_API_TOKEN). Enter it to send test events.'
  : 'hookloop asks for the admin token (HOOKLOOP_ADMIN_TOKEN), or refused the one given. It is kept in this tab\'s session storage only.'));

function showForget() { document.getElementById('forget').hidden = !token('admin') && !token('api'); }

document.addEventListener('DOMContentLoaded', async () => {
  document.getElementById('token-form').addEventListener('submit', () => {
    setToken('admin', document.getElementById('token-admin').value.trim());
    setToken('api', document.getElementById('token-api').value.trim());
    showForget();
    route();
  });
  document.getElementById('forget').addEventListener('click', () => {
    setToken('admin', '');
    setToken('api', '');
    showForget();
    askToken('admin', 'Token forgotten. Enter the admin token to go on.');
  });
  // Only "#/..." is a page; the skip link moves focus without navigating.
  window.addEventListener('hashchange', () => { if (location.hash === '' || location.hash.startsWith('#/')) route(); });
  document.querySelector('.skip').addEventListener('click', (ev) => {
    ev.preventDefault();
    (document.getElementById('page-title') || document.getElementById('main')).focus();
  });
  showForget();
  await loadDescription();
  // One cheap admin call tells whether a token is needed (401 opens the prompt).
  try { await get('/admin/schemas'); } catch { /* the page shows the error */ }
  route();
});
