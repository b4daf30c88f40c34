// A team's wallet (its hard limit): what is available, leased to running Envoys and
// held for Envoys that stopped before reporting, the allocation history, and the
// requests the limit refused day by day.

import { usd, number } from './format.js';
import { options, dayAxis, UP, PALETTE } from './charts.js';
import { DataTable, el, facts as factList } from './table.js';

export default {
  id: 'wallet',
  title: 'Wallet (hard limit)',
  scopes: ['team'],
  async load(card, ctx) {
    const d = await ctx.get('/v1/insights/wallet', ctx.rangeParams({ team: ctx.scope }));
    const w = d.wallet;
    const parts = [];
    if (w) {
      const facts = [
        ['Available now', usd(w.available_nanos)],
        ['Balance', usd(w.balance_nanos)],
        ['Allocated', usd(w.allocated_nanos)],
        ['Spent', usd(w.spent_nanos)],
        ['Leased to running Envoys', `${usd(w.leased_outstanding_nanos)} (${number(w.live_leases)} lease${w.live_leases === 1 ? '' : 's'})`],
        ['Held for stopped Envoys', usd(w.unsettled_nanos)],
        ['Runway', d.runway_days === null ? '–' : `about ${number(d.runway_days)} days`],
      ];
      parts.push(factList(facts, 'wallet'));
    }
    if (d.holds.length) {
      const holds = new DataTable(
        [
          { key: 'lease', label: 'Lease', kind: 'number' },
          { key: 'instance', label: 'Envoy', kind: 'text' },
          { key: 'held', label: 'Held', kind: 'money' },
          { key: 'granted', label: 'Granted', kind: 'money' },
          { key: 'spent', label: 'Reported so far', kind: 'money' },
          { key: 'ended', label: 'Ended', kind: 'text' },
        ],
        d.holds.map((h) => ({
          lease: h.lease_id,
          instance: h.instance,
          held: h.held_nanos,
          granted: h.granted_nanos,
          spent: h.spent_nanos,
          ended: new Date(h.closed_ms || h.expires_ms).toISOString().replace('.000', ''),
        })),
        'Holds: spend of Envoys that stopped before reporting it (released as events arrive, or by an operator)',
      );
      ctx.tables.holds = holds;
      parts.push(holds.root);
    }
    if (d.entries.length) {
      const history = new DataTable(
        [
          { key: 'when', label: 'When (UTC)', kind: 'text' },
          { key: 'kind', label: 'Change', kind: 'text' },
          { key: 'amount', label: 'Amount', kind: 'money' },
          { key: 'after', label: 'Allocated after', kind: 'money' },
          { key: 'actor', label: 'By', kind: 'text' },
          { key: 'reason', label: 'Reason', kind: 'text' },
        ],
        d.entries.map((e) => ({
          when: new Date(e.ts_ms).toISOString().replace('.000', ''),
          kind: e.kind.replace(/_/g, ' '),
          amount: e.amount_nanos,
          after: e.allocated_after_nanos,
          actor: e.actor,
          reason: e.reason,
        })),
        'Allocation history, newest first',
      );
      ctx.tables.allocations = history;
      parts.push(el('details', { class: 'history' }, el('summary', { text: `Allocation history (${d.entries.length})` }), history.root));
    }
    card.extra(...parts);

    const r = d.refusals;
    card.chart({
      type: 'bar',
      data: {
        labels: d.days,
        datasets: [
          { label: 'Refused by the wallet limit', data: r.wallet_exhausted, backgroundColor: UP, stack: 'r' },
          { label: 'Refused for other reasons', data: r.other, backgroundColor: PALETTE[4], stack: 'r' },
        ],
      },
      options: options({
        scales: {
          x: dayAxis(d.time_zone, { stacked: true }),
          y: { stacked: true, beginAtZero: true, title: { display: true, text: 'Requests refused' }, ticks: { precision: 0 } },
        },
      }),
    });
    card.table(
      [
        { key: 'day', label: 'Day', kind: 'text' },
        { key: 'wallet', label: 'Refused by the wallet limit', kind: 'number' },
        { key: 'other', label: 'Refused for other reasons', kind: 'number' },
      ],
      d.days.map((day, i) => ({ day, wallet: r.wallet_exhausted[i], other: r.other[i] })),
      `Refusals per day (${d.time_zone})`,
    );
    card.say(d.summary);
    card.notes(r.by_reason.map((x) => `${x.reason.replace(/_/g, ' ') || 'no reason'}: ${number(x.count)} refused in the range`));
    card.data({
      availableNanos: String(w ? w.available_nanos : 0),
      unsettledNanos: String(w ? w.unsettled_nanos : 0),
      holds: String(d.holds.length),
      refusedWallet: String(r.wallet_exhausted_total),
    });
    card.done(!w);
  },
};
