// The export panel: CSV, JSON Lines or FOCUS 1.2 for a period, grain and team(s),
// downloaded from /v1/export with the viewer's own session (a team token exports
// only its team) — the same rows `tollgate-ledger export` writes. Each link states
// the spend its file adds up to, which is the page's number for the same period.

import { usd } from './format.js';
import { addDays } from './period.js';
import { el } from './table.js';
import { url } from './api.js';

const FORMATS = [
  ['csv', 'CSV'],
  ['jsonl', 'JSON Lines'],
  ['focus', 'FOCUS 1.2 (CSV)'],
];
const GRAINS = [
  ['day', 'One row per day'],
  ['month', 'One row per month'],
  ['request', 'One row per request'],
];

function field(label, control) {
  return el('label', { class: 'field' }, el('span', { text: label }), control);
}

export default {
  id: 'export',
  title: 'Export for finance',
  scopes: ['org', 'team'],
  noChart: true,
  async load(card, ctx) {
    const teams = ctx.scope ? [ctx.scope] : ctx.session.teams;
    const form = el('form', { class: 'export-form', 'aria-label': 'Export' });
    const format = el('fieldset', { class: 'formats' }, el('legend', { text: 'Format' }));
    for (const [v, label] of FORMATS) {
      const input = el('input', { type: 'radio', name: 'format', value: v, checked: v === 'csv' });
      format.append(el('label', { class: 'choice' }, input, document.createTextNode(` ${label}`)));
    }
    const grain = el('select', { name: 'grain' });
    for (const [v, label] of GRAINS) grain.add(new Option(label, v));
    const from = el('input', { type: 'date', name: 'from', value: ctx.range.from, required: true });
    const to = el('input', { type: 'date', name: 'to', value: addDays(ctx.range.to, -1), required: true });
    const who = el('fieldset', { class: 'teams' }, el('legend', { text: 'Teams' }));
    const all = el('input', { type: 'checkbox', name: 'all', checked: !ctx.scope, disabled: ctx.session.sees !== 'all' });
    if (ctx.session.sees === 'all') who.append(el('label', { class: 'choice' }, all, document.createTextNode(' All teams, one file')));
    for (const t of ctx.session.teams) {
      const box = el('input', { type: 'checkbox', name: 'team', value: t, checked: ctx.scope === t || ctx.session.sees !== 'all', disabled: ctx.session.sees !== 'all' });
      who.append(el('label', { class: 'choice' }, box, document.createTextNode(` ${t}`)));
    }
    const links = el('ul', { class: 'downloads', 'aria-live': 'polite' });
    form.append(format, field('Rows', grain), el('div', { class: 'dates' }, field('From', from), field(`To (inclusive, ${ctx.zone})`, to)), who);

    const update = async () => {
      const f = form.querySelector('input[name=format]:checked').value;
      const focus = f === 'focus';
      grain.querySelector('option[value=request]').disabled = focus;
      if (focus && grain.value === 'request') grain.value = 'day';
      const range = { from: from.value, to: to.value ? addDays(to.value, 1) : '' };
      if (!range.from || !range.to || range.from >= range.to) {
        links.replaceChildren(el('li', { class: 'error', text: 'Choose a period whose first day is not after its last.' }));
        return;
      }
      const picked = ctx.session.sees === 'all'
        ? [...(all.checked ? [null] : []), ...[...who.querySelectorAll('input[name=team]:checked')].map((b) => b.value)]
        : [ctx.session.team];
      if (!picked.length) {
        links.replaceChildren(el('li', { text: 'Choose all teams or at least one team.' }));
        return;
      }
      const spend = await ctx.get('/v1/insights/teams', { from: range.from, to: range.to });
      const total = (t) => spend.teams.filter((x) => t === null || x.team === t).reduce((s, x) => s + x.spent_nanos, 0);
      links.replaceChildren(
        ...picked.map((t) => {
          const href = url('/v1/export', { format: f, grain: grain.value, from: range.from, to: range.to, team: t });
          const a = el('a', { href, class: 'button download', download: '', 'data-team': t || '', 'data-total-nanos': String(total(t)) }, document.createTextNode(`Download ${t || 'all teams'}`));
          return el('li', {}, a, document.createTextNode(` — ${usd(total(t))} of spend, ${range.from} to ${addDays(range.to, -1)} (${ctx.zone})`));
        }),
      );
      card.data({ exports: picked.map((t) => ({ team: t, nanos: total(t) })) });
    };
    form.addEventListener('change', () => update().catch((e) => card.fail(e)));
    form.addEventListener('submit', (ev) => ev.preventDefault());
    card.extra(form, el('h3', { class: 'sr-only', text: 'Downloads' }), links);
    await update();
    card.say(`Exports are the same rows the CLI writes (tollgate-ledger export): days and months in ${ctx.zone}, money to the nanodollar.`);
    card.done(false);
  },
};
