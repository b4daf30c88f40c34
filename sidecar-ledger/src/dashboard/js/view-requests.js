// Allocation requests: a team asks for more wallet allocation (the ledger attaches the
// evidence: runway, budget pace, drivers, mix, cache) and finance or an admin approves,
// possibly another amount, or declines with a comment. The approval is a wallet top-up:
// Envoy serves the team again at its next lease.

import { el } from './table.js';
import { usd, number } from './format.js';
import { actionForm, approver, disclose } from './actions.js';

const when = (ms) => new Date(ms).toISOString().slice(0, 16).replace('T', ' ') + ' UTC';

function evidence(r) {
  const e = r.evidence || {};
  const lines = [e.summary];
  if (e.wallet) lines.push(`Wallet: ${usd(e.wallet.balance_nanos)} balance, ${usd(e.wallet.run_rate_per_day_nanos)} a day${e.wallet.exhaustion_day ? `, runs out ${e.wallet.exhaustion_day}` : ''}.`);
  if (e.budget) lines.push(`Budget: ${e.budget.summary}.`);
  if (e.period) lines.push(`Last ${e.period.range.days} days: ${usd(e.period.spent_nanos)} over ${number(e.period.requests)} requests; cache avoided ${usd(e.period.cost_avoided_nanos)}.`);
  if (e.drivers) lines.push(`Drivers of last week's change: ${e.drivers.effects.filter((x) => x.nanos).map((x) => `${x.label} ${usd(x.nanos)}`).join(', ') || 'none'}.`);
  if (e.lanes && e.lanes.length) lines.push(`Lanes: ${e.lanes.map((l) => `${l.lane} ${Math.round(l.share * 100)}%`).join(', ')}.`);
  return el('details', { class: 'evidence' }, el('summary', { text: 'Evidence at filing' }),
    ...lines.filter(Boolean).map((t) => el('p', { text: t })));
}

function decisionForms(r, ctx, card) {
  const path = `/v1/teams/${encodeURIComponent(r.team)}/allocation-requests/${r.id}/decision`;
  const after = async (answer) => {
    setTimeout(() => ctx.reload(card), 800);
    return answer.request.status === 'approved'
      ? `Approved ${usd(answer.request.approved_nanos)}: ${r.team} is served again at its next lease.`
      : 'Declined; the team sees your comment.';
  };
  return el('div', { class: 'decide' },
    disclose('Approve', () => actionForm({
      name: `approve-${r.id}`, legend: `Approve request #${r.id} of ${r.team}`, keyed: false,
      fields: [
        { name: 'amount_usd', label: 'Grant (USD)', type: 'money', value: (r.amount_nanos / 1e9).toFixed(2), required: true },
        { name: 'comment', label: 'Comment', type: 'textarea' },
      ],
      submitLabel: 'Approve and allocate', path,
      body: (v) => ({ decision: 'approve', amount_usd: v.amount_usd, comment: v.comment || undefined }),
      done: after,
    })),
    disclose('Decline', () => actionForm({
      name: `decline-${r.id}`, legend: `Decline request #${r.id} of ${r.team}`, keyed: false,
      fields: [{ name: 'comment', label: 'Why (the team sees it)', type: 'textarea', required: true }],
      submitLabel: 'Decline', path,
      body: (v) => ({ decision: 'decline', comment: v.comment }),
      done: after,
    })));
}

function item(r, ctx, card) {
  const head = `#${r.id} ${r.team}: ${usd(r.amount_nanos)} asked by ${r.requested_by}, ${when(r.requested_ms)} — ${r.reason}`;
  const status = r.status === 'pending'
    ? 'Pending'
    : `${r.status === 'approved' ? `Approved ${usd(r.approved_nanos)}` : 'Declined'} by ${r.decided_by}, ${when(r.decided_ms)}${r.decision_comment ? `: ${r.decision_comment}` : ''}`;
  return el('li', { class: 'request', 'data-id': r.id, 'data-status': r.status },
    el('p', { text: head }), el('p', { class: 'muted', text: status }), evidence(r),
    r.status === 'pending' && approver(ctx.session) ? decisionForms(r, ctx, card) : null);
}

export default {
  id: 'requests',
  title: 'Allocation requests',
  scopes: ['org', 'team'],
  wide: true,
  noChart: true,
  async load(card, ctx) {
    const team = ctx.scope;
    const d = team
      ? await ctx.get(`/v1/teams/${encodeURIComponent(team)}/allocation-requests`)
      : await ctx.get('/v1/allocation-requests', { status: 'pending' });
    const nodes = [];
    if (team) {
      nodes.push(disclose('Ask for more allocation', () => actionForm({
        name: 'request-allocation', legend: `More wallet allocation for ${team}`,
        fields: [
          { name: 'amount_usd', label: 'Amount (USD)', type: 'money', required: true, placeholder: '250.00' },
          { name: 'reason', label: 'Reason', type: 'textarea', required: true },
        ],
        submitLabel: 'Send to finance', path: `/v1/teams/${encodeURIComponent(team)}/allocation-requests`,
        body: (v) => ({ amount_usd: v.amount_usd, reason: v.reason }),
        done: async (answer) => {
          setTimeout(() => ctx.reload(card), 800);
          return `Request #${answer.request.id} filed, with the evidence above attached.`;
        },
      })));
    }
    const list = el('ul', { class: 'requests' }, ...d.requests.map((r) => item(r, ctx, card)));
    nodes.push(list);
    card.extra(...nodes);
    card.table(
      [
        { key: 'id', label: '#', kind: 'number' },
        { key: 'team', label: 'Team', kind: 'text' },
        { key: 'asked', label: 'Asked', kind: 'money' },
        { key: 'status', label: 'Status', kind: 'text' },
        { key: 'granted', label: 'Granted', kind: 'money' },
      ],
      d.requests.map((r) => ({ id: r.id, team: r.team, asked: r.amount_nanos, status: r.status, granted: r.approved_nanos || 0 })),
    );
    const pending = d.requests.filter((r) => r.status === 'pending');
    card.say(pending.length
      ? `${pending.length} request${pending.length > 1 ? 's' : ''} waiting for finance (${usd(pending.reduce((s, r) => s + r.amount_nanos, 0))})`
      : team ? 'No request is waiting' : 'No request is waiting for a decision');
    card.data({ pending: pending.length });
    card.done(false);
  },
};
