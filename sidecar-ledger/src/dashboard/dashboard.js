// Tollgate leaders' dashboard. Plain script, no build step; charts by Chart.js
// (vendored, /assets/chart.umd.min.js). Every number comes from /v1/insights/*.
//
// Test hooks: each chart card is <article data-chart="NAME" data-state="loading|ready|
// empty|error" data-summary="…">, and window.tollgate.charts[NAME] is its Chart.
'use strict';

(function () {
  // Okabe–Ito: distinguishable with the common colour-vision deficiencies.
  const PALETTE = ['#0072B2', '#E69F00', '#009E73', '#CC79A7', '#56B4E9', '#D55E00', '#F0E442', '#000000'];
  const UP = '#D55E00';
  const DOWN = '#009E73';
  const TOTAL = '#0072B2';
  const DAY = 86400000;
  const RANGES = [7, 14, 30, 60, 90];
  const COMPARISONS = [
    ['w1', 'Last 7 days vs the 7 before'],
    ['w2', 'Last 14 days vs the 14 before'],
    ['w4', 'Last 28 days vs the 28 before'],
    ['m', 'This month so far vs last month'],
  ];

  const state = { session: null, team: null };
  const charts = {};
  window.tollgate = { charts, state };

  const $ = (sel, root) => (root || document).querySelector(sel);

  // ---- formatting -------------------------------------------------------------------
  const money = new Intl.NumberFormat('en-US', { style: 'currency', currency: 'USD' });
  const usd = (nanos) => money.format((nanos || 0) / 1e9);
  const dollars = (nanos) => (nanos === null || nanos === undefined ? null : nanos / 1e9);
  const pct = (f) => (f === null || f === undefined ? null : Math.round(f * 1000) / 10);
  const dayStr = (ms) => new Date(ms).toISOString().slice(0, 10);
  const todayStart = () => Math.floor(Date.now() / DAY) * DAY;

  function lastDays(days) {
    const end = todayStart() + DAY;
    return { from: dayStr(end - days * DAY), to: dayStr(end) };
  }

  function bucketFor(days) {
    return days > 60 ? 'week' : 'day';
  }

  // ---- API ----------------------------------------------------------------------------
  class Unauthorized extends Error {}

  async function api(path, params) {
    const q = new URLSearchParams();
    for (const [k, v] of Object.entries(params || {})) {
      if (v !== null && v !== undefined && v !== '') q.set(k, v);
    }
    const url = q.toString() ? `${path}?${q}` : path;
    const r = await fetch(url, { credentials: 'same-origin', headers: { Accept: 'application/json' } });
    if (r.status === 401) {
      throw new Unauthorized('sign in');
    }
    const body = await r.json().catch(() => ({}));
    if (!r.ok) {
      throw new Error((body.error && body.error.message) || `HTTP ${r.status}`);
    }
    return body;
  }

  // ---- sign in ------------------------------------------------------------------------
  function showLogin(message) {
    $('#board').hidden = true;
    $('#who').hidden = true;
    $('#scope-nav').hidden = true;
    $('#login').hidden = false;
    const err = $('#login-error');
    err.hidden = !message;
    err.textContent = message || '';
    $('#token-input').focus();
  }

  async function signIn(token) {
    const r = await fetch('/v1/session', {
      method: 'POST',
      credentials: 'same-origin',
      headers: { 'Content-Type': 'application/json' },
      body: JSON.stringify({ token }),
    });
    if (!r.ok) {
      const body = await r.json().catch(() => ({}));
      throw new Error((body.error && body.error.message) || `HTTP ${r.status}`);
    }
  }

  // ---- scope (organisation or one team) ----------------------------------------------
  function readHash() {
    const h = new URLSearchParams(location.hash.replace(/^#/, ''));
    return h.get('team');
  }

  function setTeam(team) {
    const s = state.session;
    if (s.sees === 'team') team = s.team;
    if (team && !s.teams.includes(team)) team = null;
    state.team = team || null;
    const hash = state.team ? `#team=${encodeURIComponent(state.team)}` : '#org';
    if (location.hash !== hash) history.replaceState(null, '', hash);
    renderBoard();
  }

  function teamOptions(select) {
    const s = state.session;
    select.innerHTML = '';
    if (s.sees === 'all') select.add(new Option('All teams', ''));
    for (const t of s.teams) select.add(new Option(t, t));
    select.value = state.team || '';
    select.disabled = s.sees !== 'all';
  }

  function updateExportLink(days) {
    const r = lastDays(days || 30);
    const q = new URLSearchParams({ format: 'csv', from: r.from, to: r.to });
    if (state.team) q.set('team', state.team);
    $('#export-link').href = `/v1/export?${q}`;
  }

  // ---- cards --------------------------------------------------------------------------
  const CARDS = [
    { id: 'budget', title: 'Spend against budget', wide: true, load: loadBudget },
    { id: 'teams', title: 'Spend by team', orgOnly: true, load: loadTeams },
    { id: 'drivers', title: 'What drove the change', comparisons: true, load: loadDrivers },
    { id: 'mix', title: 'Provider and lane mix (share of spend)', load: loadMix },
    { id: 'cache', title: 'Cache hit rate', load: loadCache },
    { id: 'premium', title: 'Premium share and premium drift', load: loadPremium },
    { id: 'users', title: 'Top users', load: (c) => loadTop(c, 'user') },
    { id: 'workflows', title: 'Top workflows', load: (c) => loadTop(c, 'workflow') },
  ];

  function renderBoard() {
    for (const k of Object.keys(charts)) {
      charts[k].destroy();
      delete charts[k];
    }
    const s = state.session;
    $('#login').hidden = true;
    $('#board').hidden = false;
    $('#who').hidden = false;
    $('#who-name').textContent = `${s.name} (${s.role}${s.team ? ': ' + s.team : ''})`;
    const nav = $('#scope-nav');
    nav.hidden = false;
    const scopeSelect = $('#scope-select');
    teamOptions(scopeSelect);
    scopeSelect.onchange = () => setTeam(scopeSelect.value);
    $('#scope-title').textContent = state.team ? `Team ${state.team}` : 'Organisation';
    $('#headline').textContent = '';
    document.body.dataset.scope = state.team || 'org';
    updateExportLink(30);
    showDeliveryBanner();

    const grid = $('#grid');
    grid.innerHTML = '';
    const tpl = $('#card-template');
    for (const def of CARDS) {
      if (def.orgOnly && state.team) continue;
      const card = tpl.content.firstElementChild.cloneNode(true);
      card.dataset.chart = def.id;
      card.id = `card-${def.id}`;
      if (def.wide) card.classList.add('wide');
      $('h2', card).textContent = def.title;
      const range = $('.range-select', card);
      if (def.comparisons) {
        for (const [v, label] of COMPARISONS) range.add(new Option(label, v));
        range.value = 'w1';
      } else {
        for (const d of RANGES) range.add(new Option(`Last ${d} days`, String(d)));
        range.value = '30';
      }
      range.onchange = () => refresh(def, card);
      const drill = $('.team-select', card);
      teamOptions(drill);
      drill.onchange = () => setTeam(drill.value);
      if (def.id === 'mix') {
        const by = document.createElement('select');
        by.className = 'by-select';
        by.setAttribute('aria-label', 'Mix by');
        for (const v of ['lane', 'provider', 'model']) by.add(new Option(`by ${v}`, v));
        by.onchange = () => refresh(def, card);
        $('.controls', card).prepend(by);
      }
      grid.appendChild(card);
      refresh(def, card);
    }
  }

  // -- events an Envoy had to drop during a ledger outage: the numbers are short
  async function showDeliveryBanner() {
    const banner = $('#delivery-banner');
    banner.hidden = true;
    try {
      const d = await api('/v1/insights/delivery');
      if (d.summary) {
        banner.textContent = d.summary;
        banner.hidden = false;
      }
    } catch (e) {
      // The banner is a warning about completeness; its absence must not block the page.
    }
  }

  async function refresh(def, card) {
    card.dataset.state = 'loading';
    // A canvas holds one chart at a time.
    if (charts[def.id]) {
      charts[def.id].destroy();
      delete charts[def.id];
    }
    try {
      await def.load(card);
    } catch (e) {
      if (e instanceof Unauthorized) {
        showLogin('Your session has ended: sign in again.');
        return;
      }
      card.dataset.state = 'error';
      $('.say', card).textContent = `Could not load: ${e.message}`;
    }
  }

  function rangeOf(card) {
    const days = Number($('.range-select', card).value) || 30;
    return { days, ...lastDays(days) };
  }

  function finish(card, chart, summary, extra) {
    const id = card.dataset.chart;
    if (charts[id]) charts[id].destroy();
    charts[id] = chart;
    $('.say', card).textContent = summary;
    $('canvas', card).setAttribute('aria-label', summary);
    card.dataset.summary = summary;
    const empty = (extra && extra.empty) || false;
    card.dataset.state = empty ? 'empty' : 'ready';
    for (const [k, v] of Object.entries((extra && extra.data) || {})) {
      card.dataset[k] = typeof v === 'string' ? v : JSON.stringify(v);
    }
  }

  function notes(card, lines) {
    const ul = $('.notes', card);
    ul.innerHTML = '';
    for (const line of lines || []) {
      const li = document.createElement('li');
      li.textContent = line;
      ul.appendChild(li);
    }
  }

  function baseOptions(extra) {
    return Object.assign(
      {
        responsive: true,
        maintainAspectRatio: false,
        animation: false,
        interaction: { mode: 'index', intersect: false },
        plugins: {
          legend: { position: 'bottom', labels: { boxWidth: 14 } },
        },
      },
      extra || {},
    );
  }

  const moneyAxis = (title, extra) =>
    Object.assign(
      {
        beginAtZero: true,
        title: { display: !!title, text: title },
        ticks: { callback: (v) => money.format(v) },
      },
      extra || {},
    );
  const pctAxis = (title, extra) =>
    Object.assign(
      { beginAtZero: true, max: 100, title: { display: !!title, text: title }, ticks: { callback: (v) => `${v}%` } },
      extra || {},
    );
  const moneyTooltip = {
    callbacks: {
      label: (ctx) => {
        const v = ctx.raw;
        if (Array.isArray(v)) return `${ctx.dataset.label || ctx.label}: ${money.format(v[1] - v[0])}`;
        return v === null ? null : `${ctx.dataset.label}: ${money.format(v)}`;
      },
    },
  };

  function drillOnClick(teamsOf) {
    return (evt, elements) => {
      if (!elements.length || state.session.sees !== 'all') return;
      const team = teamsOf(elements[0]);
      if (team) setTeam(team);
    };
  }

  // -- spend against budget, with forecast and band
  async function loadBudget(card) {
    const r = rangeOf(card);
    const d = await api('/v1/insights/budget', { team: state.team, from: r.from, to: r.to });
    updateExportLink(r.days);
    const datasets = d.daily.map((t, i) => ({
      type: 'bar',
      label: state.team ? 'Daily spend' : t.team,
      team: t.team,
      data: t.values.map(dollars),
      backgroundColor: state.team ? PALETTE[4] : PALETTE[i % 3],
      stack: 'daily',
      yAxisID: 'daily',
      order: 3,
    }));
    if (d.budget) {
      const inPeriod = (day) => day >= d.budget.period_start && day < d.budget.period_end;
      datasets.push({
        type: 'line', label: `Spent since ${d.budget.period_start}`, data: d.cumulative.map(dollars),
        borderColor: '#000000', backgroundColor: '#000000', pointRadius: 0, borderWidth: 2, yAxisID: 'total', order: 1,
      });
      datasets.push({
        type: 'line', label: `Budget ${usd(d.budget.amount_nanos)}`,
        data: d.days.map((day) => (inPeriod(day) ? dollars(d.budget.amount_nanos) : null)),
        borderColor: UP, borderDash: [8, 4], pointRadius: 0, borderWidth: 2, yAxisID: 'total', order: 1,
      });
      datasets.push({
        type: 'line', label: 'Forecast low', data: d.forecast_low.map(dollars),
        borderColor: 'rgba(0,114,178,0.35)', borderWidth: 1, pointRadius: 0, fill: false, yAxisID: 'total', order: 2,
      });
      datasets.push({
        type: 'line', label: 'Forecast band', data: d.forecast_high.map(dollars),
        borderColor: 'rgba(0,114,178,0.35)', borderWidth: 1, pointRadius: 0,
        backgroundColor: 'rgba(0,114,178,0.15)', fill: '-1', yAxisID: 'total', order: 2,
      });
      datasets.push({
        type: 'line', label: `Forecast ${usd(d.budget.forecast_nanos)}`, data: d.forecast.map(dollars),
        borderColor: TOTAL, borderDash: [3, 3], pointRadius: 0, borderWidth: 2, yAxisID: 'total', order: 1,
      });
    }
    const chart = new Chart($('canvas', card), {
      data: { labels: d.days, datasets },
      options: baseOptions({
        scales: {
          x: { stacked: true },
          daily: moneyAxis('Daily spend', { position: 'right', stacked: true, grid: { drawOnChartArea: false } }),
          total: moneyAxis(d.budget ? 'Period to date' : '', { position: 'left', display: !!d.budget }),
        },
        plugins: {
          legend: { position: 'bottom', labels: { boxWidth: 14, filter: (item) => item.text !== 'Forecast low' } },
          tooltip: moneyTooltip,
        },
        onClick: drillOnClick((el) => datasets[el.datasetIndex].team),
      }),
    });
    $('#headline').textContent = d.summary;
    notes(card, state.team ? d.sentences.slice(1) : d.sentences);
    finish(card, chart, d.summary, {
      empty: d.total_spent_nanos === 0,
      data: { totalNanos: String(d.total_spent_nanos), budgetNanos: String(d.budget ? d.budget.amount_nanos : 0) },
    });
  }

  // -- spend by team (organisation view): click a bar to drill in
  async function loadTeams(card) {
    const r = rangeOf(card);
    const d = await api('/v1/insights/teams', { from: r.from, to: r.to });
    const labels = d.teams.map((t) => t.team);
    const chart = new Chart($('canvas', card), {
      type: 'bar',
      data: {
        labels,
        datasets: [
          { label: `Spend, last ${r.days} days`, data: d.teams.map((t) => dollars(t.spent_nanos)), backgroundColor: PALETTE[0] },
          {
            label: 'Wallet balance',
            data: d.teams.map((t) => (t.wallet ? dollars(t.wallet.balance_nanos) : null)),
            backgroundColor: PALETTE[1],
          },
        ],
      },
      options: baseOptions({
        indexAxis: 'y',
        scales: { x: moneyAxis('') },
        plugins: { legend: { position: 'bottom' }, tooltip: moneyTooltip },
        onClick: drillOnClick((el) => labels[el.index]),
      }),
    });
    notes(card, d.teams.map((t) => t.summary));
    finish(card, chart, d.summary, {
      empty: d.total_spent_nanos === 0,
      data: { teams: labels, totalNanos: String(d.total_spent_nanos) },
    });
  }

  // -- what drove the change: a waterfall from period A to period B
  function comparison(kind) {
    const t = todayStart();
    if (kind === 'm') {
      const now = new Date(t);
      const mStart = Date.UTC(now.getUTCFullYear(), now.getUTCMonth(), 1);
      const prev = Date.UTC(now.getUTCFullYear(), now.getUTCMonth() - 1, 1);
      const elapsed = t + DAY - mStart;
      return { a_from: dayStr(prev), a_to: dayStr(Math.min(prev + elapsed, mStart)), b_from: dayStr(mStart), b_to: dayStr(t + DAY) };
    }
    const n = { w1: 7, w2: 14, w4: 28 }[kind] || 7;
    return { a_from: dayStr(t - 2 * n * DAY), a_to: dayStr(t - n * DAY), b_from: dayStr(t - n * DAY), b_to: dayStr(t) };
  }

  async function loadDrivers(card) {
    const cmp = comparison($('.range-select', card).value);
    const d = await api('/v1/insights/drivers', Object.assign({ team: state.team }, cmp));
    const labels = [`Before (${d.a.from}…)`];
    const bars = [[0, dollars(d.a.cost_nanos)]];
    const colours = [TOTAL];
    let running = d.a.cost_nanos;
    for (const e of d.effects) {
      labels.push(e.label);
      bars.push([dollars(running), dollars(running + e.nanos)]);
      colours.push(e.nanos >= 0 ? UP : DOWN);
      running += e.nanos;
    }
    labels.push(`After (${d.b.from}…)`);
    bars.push([0, dollars(d.b.cost_nanos)]);
    colours.push(TOTAL);
    const chart = new Chart($('canvas', card), {
      type: 'bar',
      data: { labels, datasets: [{ label: 'Spend change', data: bars, backgroundColor: colours }] },
      options: baseOptions({
        interaction: { mode: 'nearest', intersect: true },
        scales: { y: moneyAxis('', { beginAtZero: false }) },
        plugins: { legend: { display: false }, tooltip: moneyTooltip },
      }),
    });
    notes(card, [
      'Red raises spend, green lowers it. The effects add up exactly to the change ' +
        `(Shapley split over lane × model; rounding of ${d.remainder_nanos} nanodollars is in ${d.remainder_effect.replace(/_/g, ' ')}).`,
    ]);
    finish(card, chart, d.summary, {
      empty: d.a.cost_nanos === 0 && d.b.cost_nanos === 0,
      data: {
        effects: Object.fromEntries(d.effects.map((e) => [e.effect, e.nanos])),
        differenceNanos: String(d.difference_nanos),
      },
    });
  }

  // -- provider/lane mix over time (share of each bucket's spend)
  async function loadMix(card) {
    const r = rangeOf(card);
    const by = $('.by-select', card).value;
    const d = await api('/v1/insights/mix', { team: state.team, from: r.from, to: r.to, by, bucket: bucketFor(r.days) });
    const chart = new Chart($('canvas', card), {
      type: 'bar',
      data: {
        labels: d.buckets,
        datasets: d.series.map((s, i) => ({
          label: s.key,
          data: s.cost_share.map((v, j) => (s.cost_nanos[j] || d.series.some((o) => o.cost_nanos[j]) ? pct(v) : null)),
          backgroundColor: PALETTE[i % PALETTE.length],
          stack: 'mix',
        })),
      },
      options: baseOptions({
        scales: { x: { stacked: true }, y: pctAxis('Share of spend', { stacked: true }) },
        plugins: {
          legend: { position: 'bottom' },
          tooltip: { callbacks: { label: (c) => `${c.dataset.label}: ${c.raw}%` } },
        },
      }),
    });
    finish(card, chart, d.summary, {
      empty: d.series.length === 0,
      data: { keys: d.series.map((s) => s.key) },
    });
  }

  // -- cache hit rate and cost avoided
  async function loadCache(card) {
    const r = rangeOf(card);
    const d = await api('/v1/insights/cache', { team: state.team, from: r.from, to: r.to, bucket: bucketFor(r.days) });
    const chart = new Chart($('canvas', card), {
      data: {
        labels: d.buckets,
        datasets: [
          {
            type: 'line', label: 'Hit rate', data: d.hit_rate.map(pct), borderColor: PALETTE[0],
            backgroundColor: PALETTE[0], yAxisID: 'rate', pointRadius: 2, borderWidth: 2, order: 1, spanGaps: true,
          },
          {
            type: 'bar', label: 'Cost avoided', data: d.cost_avoided_nanos.map(dollars),
            backgroundColor: 'rgba(0,158,115,0.45)', yAxisID: 'saved', order: 2,
          },
        ],
      },
      options: baseOptions({
        scales: {
          rate: pctAxis('Hit rate', { position: 'left' }),
          saved: moneyAxis('Cost avoided', { position: 'right', grid: { drawOnChartArea: false } }),
        },
        plugins: {
          legend: { position: 'bottom' },
          tooltip: {
            callbacks: {
              label: (c) => (c.dataset.yAxisID === 'rate' ? `Hit rate: ${c.raw}%` : `Cost avoided: ${money.format(c.raw)}`),
            },
          },
        },
      }),
    });
    finish(card, chart, d.summary, {
      empty: d.total_hit_rate === null,
      data: { hitRate: JSON.stringify(d.total_hit_rate), avoidedNanos: String(d.total_cost_avoided_nanos) },
    });
  }

  // -- premium share and drift
  async function loadPremium(card) {
    const r = rangeOf(card);
    const d = await api('/v1/insights/premium', { team: state.team, from: r.from, to: r.to, bucket: bucketFor(r.days) });
    const share = (arr) =>
      arr.map((v, i) => {
        const total = d.standard_nanos[i] + d.approved_nanos[i] + d.unapproved_nanos[i];
        return total ? Math.round((v * 1000) / total) / 10 : null;
      });
    const chart = new Chart($('canvas', card), {
      type: 'bar',
      data: {
        labels: d.buckets,
        datasets: [
          { label: 'Premium, approved workflows', data: share(d.approved_nanos), backgroundColor: PALETTE[0], stack: 'p' },
          { label: 'Premium drift (not approved)', data: share(d.unapproved_nanos), backgroundColor: UP, stack: 'p' },
        ],
      },
      options: baseOptions({
        scales: { x: { stacked: true }, y: pctAxis('Share of spend', { stacked: true }) },
        plugins: { legend: { position: 'bottom' }, tooltip: { callbacks: { label: (c) => `${c.dataset.label}: ${c.raw}%` } } },
      }),
    });
    notes(
      card,
      d.drifting_workflows.slice(0, 5).map((w) => `Not approved for premium: ${w.workflow || '(no workflow)'} — ${usd(w.cost_nanos)}, ${w.requests} requests`),
    );
    finish(card, chart, d.summary, {
      empty: d.total_premium_share === null,
      data: { premiumShare: JSON.stringify(d.total_premium_share), driftShare: JSON.stringify(d.total_drift_share) },
    });
  }

  // -- top users / workflows
  async function loadTop(card, by) {
    const r = rangeOf(card);
    const d = await api('/v1/insights/top', { team: state.team, from: r.from, to: r.to, by, limit: 10 });
    const labels = d.items.map((i) => (i.key || '(none)') + (state.team ? '' : ` · ${i.team}`));
    const chart = new Chart($('canvas', card), {
      type: 'bar',
      data: { labels, datasets: [{ label: `Spend, last ${r.days} days`, data: d.items.map((i) => dollars(i.cost_nanos)), backgroundColor: PALETTE[by === 'user' ? 4 : 2] }] },
      options: baseOptions({
        indexAxis: 'y',
        interaction: { mode: 'nearest', intersect: true, axis: 'y' },
        scales: { x: moneyAxis('') },
        plugins: { legend: { display: false }, tooltip: moneyTooltip },
        onClick: drillOnClick((el) => d.items[el.index].team),
      }),
    });
    finish(card, chart, d.summary, {
      empty: d.items.length === 0,
      data: { keys: d.items.map((i) => i.key), teams: [...new Set(d.items.map((i) => i.team))] },
    });
  }

  // ---- start ----------------------------------------------------------------------------
  async function startSession() {
    try {
      state.session = await api('/v1/session');
    } catch (e) {
      showLogin(e instanceof Unauthorized ? '' : e.message);
      return;
    }
    setTeam(readHash());
  }

  function wire() {
    $('#login-form').addEventListener('submit', async (ev) => {
      ev.preventDefault();
      try {
        await signIn($('#token-input').value.trim());
        $('#token-input').value = '';
      } catch (e) {
        showLogin(e.message);
        return;
      }
      await startSession();
    });
    $('#sign-out').addEventListener('click', async () => {
      await fetch('/v1/session', { method: 'DELETE', credentials: 'same-origin' });
      state.session = null;
      showLogin('');
    });
    window.addEventListener('hashchange', () => {
      if (location.hash.includes('token=')) init();
      else if (state.session && readHash() !== state.team) setTeam(readHash());
    });
  }

  async function init() {
    // A sign-in link: /#token=tgk_… (the fragment never reaches a server or a log).
    const h = new URLSearchParams(location.hash.replace(/^#/, ''));
    const token = h.get('token');
    if (token) {
      history.replaceState(null, '', location.pathname);
      try {
        await signIn(token);
      } catch (e) {
        showLogin(e.message);
        return;
      }
    }
    await startSession();
  }

  let booted = false;
  function boot() {
    if (booted) return;
    booted = true;
    wire();
    init();
  }
  if (document.readyState === 'loading') document.addEventListener('DOMContentLoaded', boot);
  else boot();
})();
