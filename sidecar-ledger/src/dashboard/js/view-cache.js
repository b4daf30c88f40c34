// Cache hit rate over time and the spend it avoided; and the misses that repeated an
// earlier request under normalisation, each with the move that would have answered
// them (normalised matching for the workflow).

import { dollars, pct, usd, number } from './format.js';
import { el } from './table.js';
import { actionForm, disclose } from './actions.js';
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
    // Turning a workflow on keeps the team's others on: read what each team has.
    const repeated = d.near_repeats.filter((r) => r.repeats > 0);
    const onByTeam = {};
    for (const team of new Set(repeated.filter((r) => !r.normalized_on && r.workflow).map((r) => r.team))) {
      const p = await ctx.get(`/v1/teams/${encodeURIComponent(team)}/policy`);
      const nc = p.policy.normalized_cache;
      onByTeam[team] = nc ? nc.workflows : [];
    }
    const open = repeated.map((r) => ({ ...r, already_on: onByTeam[r.team] || [] }));
    card.extra(open.length ? el('div', { class: 'near-repeats' },
      el('h3', { text: 'Near-repeats exact matching missed' }),
      el('ul', { class: 'in-force' }, ...open.map((r) => el('li', { 'data-workflow': r.workflow, 'data-team': r.team },
        `${ctx.scope ? '' : `${r.team} · `}${r.workflow || '(no workflow)'}: ${number(r.repeats)} of ${number(r.misses)} misses repeated an earlier request (${usd(r.repeat_cost_nanos)}) `,
        r.normalized_on
          ? el('span', { class: 'muted', text: 'normalised matching is on' })
          : r.workflow ? disclose('Turn on normalised caching', () => actionForm({
            name: `normalize-${r.team}-${r.workflow}`,
            legend: `Cache near-repeats of ${r.workflow} (UUIDs and timestamps masked, spacing ignored)`,
            fields: [{ name: 'reason', label: 'Reason', type: 'textarea', required: true, value: `near-repeat misses on ${r.workflow}` }],
            submitLabel: 'Turn on',
            path: `/v1/teams/${encodeURIComponent(r.team)}/policy`,
            body: (v) => ({ change: 'normalized_cache', workflows: [...r.already_on, r.workflow], reason: v.reason }),
            done: async () => {
              setTimeout(() => ctx.reload(card), 800);
              return 'On: every Envoy applies it within about a second.';
            },
          })) : null)))) : null);
    card.say(d.summary);
    card.data({ nearRepeats: String(open.length), hitRate: JSON.stringify(d.total_hit_rate), avoidedNanos: String(d.total_cost_avoided_nanos) });
    card.done(d.total_hit_rate === null);
  },
};
