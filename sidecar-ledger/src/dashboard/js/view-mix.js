// Provider, lane or model mix over time: each one's share of each bucket's spend.

import { pct } from './format.js';
import { colour, options, pctAxis, pctTooltip, dayAxis } from './charts.js';
import { el } from './table.js';

export default {
  id: 'mix',
  title: 'Provider and lane mix (share of spend)',
  scopes: ['org', 'team'],
  async load(card, ctx) {
    if (!card.bySelect) {
      card.bySelect = el('select', { class: 'by-select', 'aria-label': 'Mix by' });
      for (const v of ['lane', 'provider', 'model']) card.bySelect.add(new Option(`by ${v}`, v));
      card.bySelect.addEventListener('change', () => ctx.reload(card));
      card.tools.prepend(card.bySelect);
    }
    const by = card.bySelect.value;
    const d = await ctx.get('/v1/insights/mix', ctx.rangeParams({ team: ctx.scope, by, bucket: ctx.bucket() }));
    const any = (j) => d.series.some((o) => o.cost_nanos[j]);
    card.chart({
      type: 'bar',
      data: {
        labels: d.buckets,
        datasets: d.series.map((s, i) => ({
          label: s.key,
          data: s.cost_share.map((v, j) => (any(j) ? pct(v) : null)),
          backgroundColor: colour(i),
          stack: 'mix',
        })),
      },
      options: options({
        scales: { x: dayAxis(ctx.zone, { stacked: true }), y: pctAxis('Share of spend', { stacked: true }) },
        plugins: { legend: { position: 'bottom' }, tooltip: pctTooltip },
      }),
    });
    card.table(
      [{ key: 'bucket', label: ctx.bucket() === 'week' ? 'Week of' : 'Day', kind: 'text' }, ...d.series.flatMap((s) => [
        { key: `${s.key}:share`, label: `${s.key} share`, kind: 'pct' },
        { key: `${s.key}:cost`, label: `${s.key} spend`, kind: 'money' },
      ])],
      d.buckets.map((b, j) => {
        const row = { bucket: b };
        for (const s of d.series) {
          row[`${s.key}:share`] = any(j) ? s.cost_share[j] : null;
          row[`${s.key}:cost`] = s.cost_nanos[j];
        }
        return row;
      }),
    );
    card.say(d.summary);
    card.data({ keys: d.series.map((s) => s.key) });
    card.done(d.series.length === 0);
  },
};
