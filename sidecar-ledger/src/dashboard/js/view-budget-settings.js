// A team's billing budget as a setting: finance and admin change it at once, a team
// lead proposes a change that finance approves or declines; every change is listed
// with who, when, why and the budget before and after.

import { el } from './table.js';
import { usd } from './format.js';
import { actionForm, approver, disclose, names } from './actions.js';

const when = (ms) => new Date(ms).toISOString().slice(0, 16).replace('T', ' ') + ' UTC';
const describe = (b) => (b ? `${usd(Math.round(Number(b.amount_usd) * 1e9))} ${b.period}, alerts at ${b.thresholds_pct.join('/')}%` : 'none');

function proposalForms(c, ctx, card) {
  const path = `/v1/teams/${encodeURIComponent(c.team)}/budget/proposals/${c.id}/decision`;
  const after = async (answer) => {
    setTimeout(() => ctx.reload(card), 800);
    return answer.change.status === 'approved' ? 'Approved: the new budget is in force.' : 'Declined.';
  };
  return el('div', { class: 'decide' },
    disclose('Approve', () => actionForm({
      name: `approve-budget-${c.id}`, legend: `Approve proposal #${c.id}`, keyed: false,
      fields: [{ name: 'comment', label: 'Comment', type: 'textarea' }],
      submitLabel: 'Approve', path, body: (v) => ({ decision: 'approve', comment: v.comment || undefined }), done: after,
    })),
    disclose('Decline', () => actionForm({
      name: `decline-budget-${c.id}`, legend: `Decline proposal #${c.id}`, keyed: false,
      fields: [{ name: 'comment', label: 'Why', type: 'textarea', required: true }],
      submitLabel: 'Decline', path, body: (v) => ({ decision: 'decline', comment: v.comment }), done: after,
    })));
}

export default {
  id: 'budget-settings',
  title: 'Budget settings',
  scopes: ['org', 'team'],
  wide: true,
  noChart: true,
  async load(card, ctx) {
    const team = ctx.scope;
    const finance = approver(ctx.session);
    if (!team) {
      const d = await ctx.get('/v1/budget-changes', { status: 'pending' });
      card.extra(el('ul', { class: 'proposals' }, ...d.changes.map((c) => el('li', { 'data-id': c.id },
        el('p', { text: `#${c.id} ${c.team}: ${c.actor} proposes ${describe(c.after)} instead of ${describe(c.before)} — ${c.reason}` }),
        finance ? proposalForms(c, ctx, card) : null))));
      card.say(d.changes.length ? `${d.changes.length} budget proposal(s) waiting for finance` : 'No budget proposal is waiting');
      card.data({ pending: d.changes.length });
      card.done(false);
      return;
    }
    const d = await ctx.get(`/v1/teams/${encodeURIComponent(team)}/budget`);
    const b = d.budget;
    const edit = disclose(finance ? 'Change the budget' : 'Propose a change', () => actionForm({
      name: 'budget-change', legend: `Budget of ${team}`,
      fields: [
        { name: 'amount_usd', label: 'Amount (USD)', type: 'money', value: b ? b.amount_usd : '', required: !b },
        { name: 'period', label: 'Period', type: 'select', value: b ? b.period : 'monthly', options: [['monthly', 'Monthly'], ['quarterly', 'Quarterly']] },
        { name: 'thresholds', label: 'Alert at % of budget', value: b ? b.thresholds_pct.join(', ') : '50, 80, 100' },
        { name: 'forecast', label: 'Alert when the forecast reaches %', value: b ? b.forecast_thresholds_pct.join(', ') : '100' },
        { name: 'reason', label: 'Reason', type: 'textarea', required: true },
      ],
      submitLabel: finance ? 'Save' : 'Propose to finance',
      path: `/v1/teams/${encodeURIComponent(team)}/budget`,
      body: (v) => {
        const body = { reason: v.reason, thresholds_pct: names(v.thresholds).map(Number), forecast_thresholds_pct: names(v.forecast).map(Number) };
        if (v.amount_usd) body.amount_usd = v.amount_usd;
        if (!b || v.period !== b.period) body.period = v.period;
        return body;
      },
      done: async (answer) => {
        setTimeout(() => ctx.reload(card), 800);
        return answer.change.status === 'pending' ? `Proposal #${answer.change.id} sent to finance.` : 'Saved: alerts and forecasts use it now.';
      },
    }));
    const history = el('ul', { class: 'history' }, ...d.changes.map((c) => el('li', { 'data-id': c.id, 'data-status': c.status },
      el('p', { text: `${when(c.ts_ms)} ${c.actor} (${c.status}): ${describe(c.before)} → ${describe(c.after)} — ${c.reason}` }),
      c.status === 'pending' && finance ? proposalForms(c, ctx, card) : null)));
    card.extra(el('p', { text: `In force: ${describe(b)}.` }), edit, el('h3', { text: 'History' }), history);
    card.say(d.status ? d.status.summary : `${team} has no billing budget`);
    card.data({ amount: b ? b.amount_usd : null, changes: d.changes.length });
    card.done(false);
  },
};
