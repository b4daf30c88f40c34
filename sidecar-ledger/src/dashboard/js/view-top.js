// The biggest spenders: users or workflows. In the organisation view a click on a
// row's bar opens the team it belongs to.

import { dollars } from './format.js';
import { options, moneyAxis, moneyTooltip, PALETTE } from './charts.js';

function top(id, by, title, colourIndex) {
  return {
    id,
    title,
    scopes: ['org', 'team'],
    async load(card, ctx) {
      const d = await ctx.get('/v1/insights/top', ctx.rangeParams({ team: ctx.scope, by, limit: 10 }));
      const labels = d.items.map((i) => (i.key || '(none)') + (ctx.scope ? '' : ` · ${i.team}`));
      card.chart(
        {
          type: 'bar',
          data: { labels, datasets: [{ label: 'Spend in range', data: d.items.map((i) => dollars(i.cost_nanos)), backgroundColor: PALETTE[colourIndex] }] },
          options: options({
            indexAxis: 'y',
            interaction: { mode: 'y', intersect: false },
            scales: { x: moneyAxis('US dollars') },
            plugins: { legend: { display: false }, tooltip: moneyTooltip },
          }),
        },
        ctx.scope ? null : { mode: 'y', axis: 'y', team: (e) => d.items[e.index].team, open: ctx.open },
      );
      card.table(
        [
          { key: 'key', label: by === 'user' ? 'User' : 'Workflow', kind: 'text' },
          { key: 'team', label: 'Team', kind: 'text' },
          { key: 'cost', label: 'Spend', kind: 'money' },
          { key: 'requests', label: 'Requests', kind: 'number' },
          { key: 'share', label: 'Share of spend', kind: 'pct' },
        ],
        d.items.map((i) => ({ key: i.key || '(none)', team: i.team, cost: i.cost_nanos, requests: i.requests, share: i.share })),
      );
      card.say(d.summary);
      card.data({ keys: d.items.map((i) => i.key), teams: [...new Set(d.items.map((i) => i.team))] });
      card.done(d.items.length === 0);
    },
  };
}

export const users = top('users', 'user', 'Top users', 4);
export const workflows = top('workflows', 'workflow', 'Top workflows', 2);
