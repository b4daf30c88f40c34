// Reconciliation: Tollgate's cost against the providers' own cost reports, per UTC day,
// provider and model, with the variance and a verdict (GET /v1/reconciliation; the
// reports are imported with `tollgate-ledger reconcile`, see docs/reconciliation.md).
// Organisation scope only: it covers every team, so it needs an admin or finance token.

import { usd } from './format.js';
import { el } from './table.js';
import { url } from './api.js';

const VERDICTS = {
  match: 'matches',
  over: 'Tollgate higher',
  under: 'Tollgate lower',
  missing_in_tollgate: 'not seen by Tollgate',
  missing_at_provider: 'not in the provider report',
  no_provider_report: 'no provider report',
};

export default {
  id: 'reconciliation',
  title: "Reconciliation with the providers' reports",
  scopes: ['org'],
  noChart: true,
  async load(card, ctx) {
    if (ctx.session.sees !== 'all') {
      card.say('The reconciliation covers every team: it needs an admin or finance token.');
      card.done(true);
      return;
    }
    const range = { from: ctx.range.from, to: ctx.range.to };
    const d = await ctx.get('/v1/reconciliation', range);
    card.table(
      [
        { key: 'day', label: 'Day (UTC)', kind: 'text' },
        { key: 'provider', label: 'Provider', kind: 'text' },
        { key: 'model', label: 'Model', kind: 'text' },
        { key: 'tollgate', label: 'Tollgate', kind: 'money' },
        { key: 'provider_cost', label: 'Provider report', kind: 'money' },
        { key: 'variance', label: 'Variance', kind: 'money' },
        { key: 'pct', label: 'Variance %', kind: 'text' },
        { key: 'verdict', label: 'Verdict', kind: 'text' },
      ],
      d.rows.map((r) => ({
        day: r.day,
        provider: r.provider,
        model: r.model === '*' ? 'all models' : r.model,
        tollgate: r.tollgate_cost_nanos,
        provider_cost: r.provider_cost_nanos,
        variance: r.variance_nanos,
        pct: r.variance_pct === null ? '–' : `${r.variance_pct} %`,
        verdict: VERDICTS[r.verdict] || r.verdict,
      })),
    );
    const totals = d.rows.filter((r) => r.model === '*');
    const off = totals.filter((r) => r.verdict !== 'match' && r.verdict !== 'no_provider_report');
    const reported = totals.filter((r) => r.provider_cost_nanos !== null);
    const variance = reported.reduce((s, r) => s + r.variance_nanos, 0);
    const csv = el('a', { class: 'button download', download: '', href: url('/v1/reconciliation', { ...range, format: 'csv' }) },
      document.createTextNode('Download CSV'));
    card.extra(el('p', {}, csv));
    card.say(reported.length === 0
      ? 'No provider cost report is imported for this period (tollgate-ledger reconcile import or pull).'
      : `${reported.length} provider-days reported; ${off.length} differ beyond the tolerance; Tollgate minus providers: ${usd(variance)}.`);
    card.data({ rows: d.rows.length, off: off.length, variance_nanos: variance });
    card.done(d.rows.length === 0);
  },
};
