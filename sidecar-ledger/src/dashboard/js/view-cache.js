// Cache hit rate over time and the spend it avoided.

import { dollars, pct } from './format.js';
import { options, pctAxis, moneyAxis, dayAxis, PALETTE } from './charts.js';
import { moneyText } from './format.js';

export default {
  id: 'cache',
  title: 'Cache hit rate',
  scopes: ['org', 'team'],
  async load(card, ctx) {
    const d = await ctx.get('/v1/insights/cache', ctx.rangeParams({ team: ctx.scope, bucket: ctx.bucket() }));
    card.chart({
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
      options: options({
        scales: {
          x: dayAxis(ctx.zone),
          rate: pctAxis('Hit rate', { position: 'left' }),
          saved: moneyAxis('Cost avoided', { position: 'right', grid: { drawOnChartArea: false } }),
        },
        plugins: {
          legend: { position: 'bottom' },
          tooltip: {
            callbacks: {
              label: (c) => (c.raw === null ? null : c.dataset.yAxisID === 'rate' ? `Hit rate: ${c.raw}%` : `Cost avoided: ${moneyText(c.raw)}`),
            },
          },
        },
      }),
    });
    card.table(
      [
        { key: 'bucket', label: ctx.bucket() === 'week' ? 'Week of' : 'Day', kind: 'text' },
        { key: 'rate', label: 'Hit rate', kind: 'pct' },
        { key: 'avoided', label: 'Cost avoided', kind: 'money' },
      ],
      d.buckets.map((b, i) => ({ bucket: b, rate: d.hit_rate[i], avoided: d.cost_avoided_nanos[i] })),
    );
    card.say(d.summary);
    card.data({ hitRate: JSON.stringify(d.total_hit_rate), avoidedNanos: String(d.total_cost_avoided_nanos) });
    card.done(d.total_hit_rate === null);
  },
};
