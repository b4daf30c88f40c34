// Tollgate leaders' dashboard: sign-in, the page's state (scope, range, view; kept
// in the address, see url.js), and rendering the views of views.js into cards.
// Plain ES modules, no build step; charts by the vendored Chart.js. Every number
// comes from the ledger's /v1/insights/* endpoints.
//
// Test and tool hooks: window.tollgate.{charts, tables, extraTables, state, live};
// body[data-ready] is the render generation once every card has loaded; performance
// marks `tollgate:first-card` and `tollgate:cards-ready`.

import * as api from './api.js';
import * as url from './url.js';
import { PRESETS, DEFAULT_PRESET, presetRange, rangeWords, addDays, daysBetween } from './period.js';
import { Card, registry } from './card.js';
import { viewsFor, REPORT } from './views.js';
import { live, startLive, stopLive } from './live.js';
import { el } from './table.js';

const $ = (sel, root) => (root || document).querySelector(sel);

const state = { session: null, scope: null, preset: DEFAULT_PRESET, custom: null, view: 'board', today: null };
const extraTables = {};
window.tollgate = { charts: registry.charts, tables: registry.tables, extraTables, state, live };

let cards = [];
let generation = 0;

const range = () => presetRange(state.preset, state.today, state.custom);

// ---- sign in -------------------------------------------------------------------------

function showLogin(message) {
  generation += 1;
  stopLive();
  for (const c of cards) c.destroy();
  cards = [];
  $('#board').hidden = true;
  $('#signed-in').hidden = true;
  $('#login').hidden = false;
  document.body.dataset.scope = '';
  const err = $('#login-error');
  err.hidden = !message;
  err.textContent = message || '';
  $('#token-input').focus();
}

async function startSession() {
  try {
    state.session = await api.get('/v1/session');
  } catch (e) {
    showLogin(e instanceof api.Unauthorized ? '' : e.message);
    return;
  }
  state.today = state.session.today;
  apply(url.parse(location.hash));
  url.write(state, false);
  render();
}

// ---- state ---------------------------------------------------------------------------

/** Takes the address's state, keeping a team token to its own team. */
function apply(parsed) {
  const s = state.session;
  let scope = parsed.scope;
  if (s.sees === 'team') scope = s.team;
  if (scope && !s.teams.includes(scope)) scope = s.sees === 'team' ? s.team : null;
  state.scope = scope || null;
  state.preset = parsed.preset;
  state.custom = parsed.custom;
  state.view = parsed.view;
}

/** Changes the state, writes the address (`push`: a new history entry, so Back
 *  returns here) and renders. */
function navigate(change, push) {
  const before = url.format(state);
  Object.assign(state, change);
  apply(url.parse(url.format(state)));
  if (url.format(state) === before) return;
  url.write(state, push);
  render();
}

// ---- header controls -------------------------------------------------------------------

function fillControls() {
  const s = state.session;
  $('#who-name').textContent = `${s.name} (${s.role}${s.team ? ': ' + s.team : ''})`;
  const scope = $('#scope-select');
  scope.replaceChildren();
  if (s.sees === 'all') scope.add(new Option('Organisation (all teams)', ''));
  for (const t of s.teams) scope.add(new Option(t, t));
  scope.value = state.scope || '';
  scope.disabled = s.sees !== 'all';

  const preset = $('#range-preset');
  if (!preset.options.length) for (const [id, label] of PRESETS) preset.add(new Option(label, id));
  preset.value = state.preset;
  const r = range();
  const custom = $('#custom-range');
  custom.hidden = state.preset !== 'custom';
  $('#range-from').value = r.from;
  $('#range-to').value = addDays(r.to, -1);
  $('#range-words').textContent = rangeWords(r);
  $('#zone-label').textContent = `Days and times in ${s.time_zone}`;
  const report = $('#report-link');
  report.href = url.format({ ...state, view: state.view === 'report' ? 'board' : 'report' });
  report.textContent = state.view === 'report' ? 'Back to the board' : 'Review report';
}

function wireControls() {
  $('#scope-select').addEventListener('change', (ev) => navigate({ scope: ev.target.value || null }, true));
  $('#range-preset').addEventListener('change', (ev) => {
    const preset = ev.target.value;
    if (preset === 'custom') {
      const r = range();
      navigate({ preset, custom: { from: r.from, to: r.to } }, false);
    } else {
      navigate({ preset, custom: null }, false);
    }
  });
  const customChanged = () => {
    const from = $('#range-from').value;
    const last = $('#range-to').value;
    if (!from || !last || from > last) return;
    navigate({ preset: 'custom', custom: { from, to: addDays(last, 1) } }, false);
  };
  $('#range-from').addEventListener('change', customChanged);
  $('#range-to').addEventListener('change', customChanged);
  $('#report-link').addEventListener('click', (ev) => {
    ev.preventDefault();
    navigate({ view: state.view === 'report' ? 'board' : 'report' }, true);
  });
  $('#print-report').addEventListener('click', () => window.print());
  $('#sign-out').addEventListener('click', async () => {
    await api.signOut().catch(() => {});
    state.session = null;
    showLogin('');
  });
}

// ---- cards ---------------------------------------------------------------------------------

function context(gen) {
  const memo = new Map();
  const r = range();
  const ctx = {
    session: state.session,
    scope: state.scope,
    range: r,
    today: state.today,
    zone: state.session.time_zone,
    tables: extraTables,
    get(path, params) {
      const key = api.url(path, params);
      if (!memo.has(key)) memo.set(key, api.get(path, params));
      return memo.get(key);
    },
    rangeParams: (extra) => Object.assign({ from: r.from, to: r.to }, extra || {}),
    bucket: () => (daysBetween(r.from, r.to) > 62 ? 'week' : 'day'),
    href: (change) => url.format({ ...state, ...change }),
    open: (team) => navigate({ scope: team }, true),
    headline: (text) => {
      if (gen === generation) $('#headline').textContent = text;
    },
    reload: (card) => {
      memo.clear();
      return load(card, ctx, gen);
    },
  };
  return ctx;
}

async function load(card, ctx, gen) {
  card.root.dataset.state = 'loading';
  try {
    await card.def.load(card, ctx);
    if (gen === generation && !performance.getEntriesByName('tollgate:first-card').length) {
      performance.mark('tollgate:first-card');
    }
  } catch (e) {
    if (e instanceof api.Unauthorized) {
      if (gen === generation) showLogin('Your session has ended: sign in again.');
      return;
    }
    card.fail(e);
  }
}

function layout(grid) {
  const scopeViews = viewsFor(state.scope);
  if (state.view !== 'report') {
    grid.className = 'grid';
    return scopeViews.map((def) => {
      const card = new Card(def);
      grid.append(card.root);
      return card;
    });
  }
  grid.className = 'report';
  const made = [];
  REPORT.forEach((answer, i) => {
    const defs = answer.views.map((id) => scopeViews.find((v) => v.id === id)).filter(Boolean);
    if (!defs.length) return;
    const box = el('div', { class: 'grid' });
    grid.append(el('section', { class: 'answer', 'aria-labelledby': `answer-${i}` }, el('h2', { id: `answer-${i}`, text: `${i + 1}. ${answer.question}` }), box));
    for (const def of defs) {
      const card = new Card({ ...def, wide: true });
      box.append(card.root);
      made.push(card);
    }
  });
  return made;
}

async function showDeliveryBanner(gen) {
  const banner = $('#delivery-banner');
  banner.hidden = true;
  try {
    const d = await api.get('/v1/insights/delivery');
    if (d.summary && gen === generation) {
      banner.textContent = d.summary;
      banner.hidden = false;
    }
  } catch (e) {
    // The banner warns about completeness; without it the page still works.
  }
}

function render() {
  generation += 1;
  const gen = generation;
  for (const c of cards) c.destroy();
  for (const k of Object.keys(extraTables)) delete extraTables[k];
  const s = state.session;
  $('#login').hidden = true;
  $('#board').hidden = false;
  $('#signed-in').hidden = false;
  document.body.dataset.scope = state.scope || 'org';
  document.body.dataset.view = state.view;
  delete document.body.dataset.ready;
  fillControls();

  const r = range();
  const crumbs = $('#crumbs');
  crumbs.replaceChildren();
  if (state.scope && s.sees === 'all') {
    const up = el('a', { href: url.format({ ...state, scope: null }), text: 'Organisation' });
    up.addEventListener('click', (ev) => {
      ev.preventDefault();
      navigate({ scope: null }, true);
    });
    crumbs.append(up, document.createTextNode(' › '));
  }
  crumbs.append(el('span', { 'aria-current': 'page', text: state.scope ? `Team ${state.scope}` : 'Organisation' }));
  const title = state.scope ? `Team ${state.scope}` : 'Organisation';
  $('#scope-title').textContent = state.view === 'report' ? `Review: ${title}, ${rangeWords(r)}` : title;
  $('#report-tools').hidden = state.view !== 'report';
  document.title = `Tollgate · ${title} · ${rangeWords(r)}`;
  $('#headline').textContent = '';
  showDeliveryBanner(gen);
  startLive($('#live'), state.scope, (today) => {
    if (today !== state.today) {
      state.today = today;
      render();
    }
  }, () => showLogin('Your session has ended: sign in again.'));

  const grid = $('#grid');
  grid.replaceChildren();
  cards = layout(grid);
  const ctx = context(gen);
  Promise.all(cards.map((c) => load(c, ctx, gen))).then(() => {
    if (gen !== generation) return;
    performance.mark('tollgate:cards-ready');
    document.body.dataset.ready = String(gen);
  });
}

// ---- print ---------------------------------------------------------------------------------

// Charts are drawn for the screen's width: redraw them for the page, and back.
const resizeCharts = () => Object.values(registry.charts).forEach((c) => c.resize());
window.addEventListener('beforeprint', resizeCharts);
window.addEventListener('afterprint', resizeCharts);

// ---- start ---------------------------------------------------------------------------------

async function init() {
  // A sign-in link: /#token=tgk_… (the fragment never reaches a server or a log).
  const token = url.parse(location.hash).token;
  if (token) {
    history.replaceState(null, '', location.pathname);
    try {
      await api.signIn(token);
    } catch (e) {
      showLogin(e.message);
      return;
    }
  }
  await startSession();
}

function boot() {
  $('#login-form').addEventListener('submit', async (ev) => {
    ev.preventDefault();
    try {
      await api.signIn($('#token-input').value.trim());
      $('#token-input').value = '';
    } catch (e) {
      showLogin(e.message);
      return;
    }
    await startSession();
  });
  wireControls();
  // Back and Forward: the address says what to show.
  window.addEventListener('popstate', () => {
    if (!state.session) return;
    apply(url.parse(location.hash));
    render();
  });
  window.addEventListener('hashchange', () => {
    const parsed = url.parse(location.hash);
    if (parsed.token) {
      init();
      return;
    }
    if (!state.session || url.format(state) === location.hash) return;
    apply(parsed);
    render();
  });
  init();
}

boot();
