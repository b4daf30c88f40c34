// Premium lanes' share of spend, split into approved workflows and drift (premium
// used by workflows not approved for it).

import { usd } from './format.js';
import { options, pctAxis, pctTooltip, dayAxis, PALETTE, UP } from './charts.js';

export default {
  id: 'premium',
  title: 'Premium share and premium drift',
  scopes: ['org', 'team'],
  async load(card, ctx) {
    const d = await ctx.get('/v1/insights/premium', ctx.rangeParams({ team: ctx.scope, bucket: ctx.bucket() }));
    const total = (i) => d.standard_nanos[i] + d.approved_nanos[i] + d.unapproved_nanos[i];
    const share = (arr) => arr.map((v, i) => (total(i) ? Math.round((v * 1000) / total(i)) / 10 : null));
    card.chart({
      type: 'bar',
      data: {
        labels: d.buckets,
        datasets: [
          { label: 'Premium, approved workflows', data: share(d.approved_nanos), backgroundColor: PALETTE[0], stack: 'p' },
          { label: 'Premium drift (not approved)', data: share(d.unapproved_nanos), backgroundColor: UP, stack: 'p' },
        ],
      },
      options: options({
        scales: { x: dayAxis(ctx.zone, { stacked: true }), y: pctAxis('Share of spend', { stacked: true }) },
        plugins: { legend: { position: 'bottom' }, tooltip: pctTooltip },
      }),
    });
    card.table(
      [
        { key: 'bucket', label: ctx.bucket() === 'week' ? 'Week of' : 'Day', kind: 'text' },
        { key: 'approved', label: 'Premium, approved', kind: 'money' },
        { key: 'drift', label: 'Premium drift', kind: 'money' },
        { key: 'standard', label: 'Standard lanes', kind: 'money' },
        { key: 'share', label: 'Premium share', kind: 'pct' },
      ],
      d.buckets.map((b, i) => ({
        bucket: b,
        approved: d.approved_nanos[i],
        drift: d.unapproved_nanos[i],
        standard: d.standard_nanos[i],
        share: total(i) ? (d.approved_nanos[i] + d.unapproved_nanos[i]) / total(i) : null,
      })),
    );
    card.say(d.summary);
    const notes = d.drifting_workflows.slice(0, 5).map((w) => `Not approved for premium: ${w.workflow || '(no workflow)'} — ${usd(w.cost_nanos)}, ${w.requests} requests`);
    // The latest premium restriction of the team, with the drift before and since.
    if (ctx.scope) {
      const p = await ctx.get(`/v1/teams/${encodeURIComponent(ctx.scope)}/policy`);
      const change = p.changes.find((c) => c.change.change === 'restrict_premium');
      if (change) {
        const day = new Date(change.ts_ms).toISOString().slice(0, 10);
        const driftShare = (keep) => {
          let drift = 0;
          let all = 0;
          d.buckets.forEach((b, i) => {
            if (keep(b)) {
              drift += d.unapproved_nanos[i];
              all += total(i);
            }
          });
          return all ? `${Math.round((drift * 1000) / all) / 10}%` : 'no spend';
        };
        const before = driftShare((b) => b < day);
        const since = driftShare((b) => b >= day);
        notes.unshift(`Premium restricted on ${day} by ${change.actor}: drift was ${before} of spend before, ${since} since.`);
        card.data({ driftBefore: before, driftSince: since });
      }
    }
    card.notes(notes);
    card.data({ premiumShare: JSON.stringify(d.total_premium_share), driftShare: JSON.stringify(d.total_drift_share) });
    card.done(d.total_premium_share === null);
  },
};
