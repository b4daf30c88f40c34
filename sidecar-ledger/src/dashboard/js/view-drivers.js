// What drove the change: the range's complete days against a like-for-like earlier
// period (see period.js `comparison`), as a waterfall whose steps add up exactly.

import { dollars } from './format.js';
import { options, moneyAxis, moneyTooltip, UP, DOWN, TOTAL } from './charts.js';
import { comparison, rangeWords } from './period.js';

export default {
  id: 'drivers',
  title: 'What drove the change',
  scopes: ['org', 'team'],
  async load(card, ctx) {
    const cmp = comparison(ctx.range, ctx.today);
    if (!cmp) {
      card.chart({ type: 'bar', data: { labels: [], datasets: [] }, options: options() });
      card.table([{ key: 'effect', label: 'Effect', kind: 'text' }, { key: 'nanos', label: 'Amount', kind: 'money' }], []);
      card.say(`The range has no complete day yet (today ends at midnight, ${ctx.zone}): pick a range with whole days to see what drove the change.`);
      card.data({ comparison: 'none' });
      card.done(true);
      return;
    }
    const d = await ctx.get('/v1/insights/drivers', {
      team: ctx.scope,
      a_from: cmp.a.from, a_to: cmp.a.to, b_from: cmp.b.from, b_to: cmp.b.to,
    });
    const labels = [`Before: ${rangeWords(cmp.a)}`];
    const bars = [[0, dollars(d.a.cost_nanos)]];
    const colours = [TOTAL];
    let running = d.a.cost_nanos;
    for (const e of d.effects) {
      labels.push(e.label);
      bars.push([dollars(running), dollars(running + e.nanos)]);
      colours.push(e.nanos >= 0 ? UP : DOWN);
      running += e.nanos;
    }
    labels.push(`After: ${rangeWords(cmp.b)}`);
    bars.push([0, dollars(d.b.cost_nanos)]);
    colours.push(TOTAL);
    card.chart({
      type: 'bar',
      data: { labels, datasets: [{ label: 'Spend change', data: bars, backgroundColor: colours }] },
      options: options({
        interaction: { mode: 'nearest', intersect: true },
        scales: { y: moneyAxis('US dollars', { beginAtZero: false }) },
        plugins: { legend: { display: false }, tooltip: moneyTooltip },
      }),
    });
    card.table(
      [{ key: 'step', label: 'Step', kind: 'text' }, { key: 'nanos', label: 'Amount', kind: 'money' }],
      [
        { step: `Before (${rangeWords(cmp.a)})`, nanos: d.a.cost_nanos },
        ...d.effects.map((e) => ({ step: e.label, nanos: e.nanos })),
        { step: `After (${rangeWords(cmp.b)})`, nanos: d.b.cost_nanos },
      ],
    );
    card.say(d.summary);
    card.notes([
      `Compared like for like, over complete days (${ctx.zone}): ${rangeWords(cmp.b)} against ${rangeWords(cmp.a)}.`,
      'Red raises spend, green lowers it. The effects add up exactly to the change ' +
        `(Shapley split over lane × model; rounding of ${d.remainder_nanos} nanodollars is in ${d.remainder_effect.replace(/_/g, ' ')}).`,
    ]);
    card.data({
      effects: Object.fromEntries(d.effects.map((e) => [e.effect, e.nanos])),
      differenceNanos: String(d.difference_nanos),
      comparison: { a: cmp.a, b: cmp.b },
    });
    card.done(d.a.cost_nanos === 0 && d.b.cost_nanos === 0);
  },
};
