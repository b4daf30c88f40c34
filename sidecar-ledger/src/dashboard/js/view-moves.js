// The recommended next moves, largest dollar impact first: each says why in numbers
// the ledger computed, and offers the move itself (restrict premium lanes, ask for
// allocation, revise the budget), posted after the leader confirms or edits it.

import { el } from './table.js';
import { usd } from './format.js';
import { actionForm, approver, disclose } from './actions.js';

const KIND = {
  restrict_premium: 'Premium drift',
  normalized_cache: 'Cache opportunity',
  request_allocation: 'Wallet runway',
  revise_budget: 'Budget forecast',
};

function moveForm(move, ctx, card) {
  const b = move.action.body;
  const fields = [];
  if (b.amount_usd !== undefined) fields.push({ name: 'amount_usd', label: 'Amount (USD)', type: 'money', value: b.amount_usd, required: true });
  if (b.allowed_workflows !== undefined) fields.push({ name: 'allowed_workflows', label: 'Workflows still allowed premium lanes', value: b.allowed_workflows.join(', ') });
  fields.push({ name: 'reason', label: 'Reason', type: 'textarea', value: b.reason, required: true });
  // Finance and admin change a budget; a team lead's change is a proposal.
  const proposing = move.kind === 'revise_budget' && !approver(ctx.session);
  return actionForm({
    name: `move-${move.kind}`,
    legend: move.sentence,
    fields,
    submitLabel: proposing ? 'Propose to finance' : move.action.label,
    path: move.action.path,
    body: (v) => {
      const body = { ...b, reason: v.reason };
      if (v.amount_usd !== undefined) body.amount_usd = v.amount_usd;
      if (v.allowed_workflows !== undefined) body.allowed_workflows = v.allowed_workflows.split(/[\s,]+/).filter(Boolean);
      return body;
    },
    done: async (answer) => {
      setTimeout(() => ctx.reload(card), 1500);
      if (answer.request) return `Request #${answer.request.id} filed for finance, with its evidence.`;
      if (answer.change && answer.change.status === 'pending') return `Proposal #${answer.change.id} sent to finance.`;
      return 'Done: Envoy applies it within about a second.';
    },
  });
}

export default {
  id: 'moves',
  title: 'Recommended next moves',
  scopes: ['org', 'team'],
  wide: true,
  noChart: true,
  async load(card, ctx) {
    const d = await ctx.get('/v1/insights/recommendations', { team: ctx.scope });
    const list = el('ol', { class: 'moves' });
    for (const m of d.moves) {
      list.append(el('li', { class: 'move', 'data-kind': m.kind, 'data-team': m.team },
        el('p', {},
          el('strong', { text: `${KIND[m.kind] || m.kind}${ctx.scope ? '' : ` · ${m.team}`}: ` }),
          m.sentence),
        el('p', { class: 'muted', text: `Worth about ${usd(m.impact_nanos)} a month.` }),
        disclose(m.action.label, () => moveForm(m, ctx, card))));
    }
    card.extra(list);
    card.table(
      [
        { key: 'team', label: 'Team', kind: 'text' },
        { key: 'move', label: 'Move', kind: 'text' },
        { key: 'workflow', label: 'Workflow', kind: 'text' },
        { key: 'impact', label: 'Impact a month', kind: 'money' },
      ],
      d.moves.map((m) => ({ team: m.team, move: KIND[m.kind] || m.kind, workflow: m.workflow || '', impact: m.impact_nanos })),
    );
    card.say(d.summary);
    card.data({ moves: d.moves.map((m) => m.kind) });
    card.done(d.moves.length === 0);
  },
};
