// Traffic controls of a team, changed from the page and in force in every Envoy within
// about a second: pauses (a team, a workflow or an end user, with a reason and an
// optional end), premium lanes restricted to approved workflows, workflows pinned to a
// lane, and normalised cache matching (turned on from the cache view). Every change is kept with who, when and why.

import { el } from './table.js';
import { actionForm, disclose, names } from './actions.js';

const when = (ms) => new Date(ms).toISOString().slice(0, 16).replace('T', ' ') + ' UTC';

function scopeText(s) {
  return s.kind === 'team' ? 'the whole team' : `${s.kind} ${s.value}`;
}

export default {
  id: 'policy',
  title: 'Traffic controls',
  scopes: ['team'],
  wide: true,
  noChart: true,
  async load(card, ctx) {
    const team = ctx.scope;
    const path = `/v1/teams/${encodeURIComponent(team)}/policy`;
    const d = await ctx.get(path);
    const p = d.policy;
    const after = async () => {
      setTimeout(() => ctx.reload(card), 800);
      return 'Saved: every Envoy applies it within about a second.';
    };
    const form = (name, legend, fields, submitLabel, body) =>
      actionForm({ name, legend, fields, submitLabel, path, body, done: after });
    const lift = (name, label, body) => form(name, label, [
      { name: 'reason', label: 'Reason', type: 'textarea', required: true },
    ], label, (v) => ({ ...body, reason: v.reason }));

    const inForce = el('ul', { class: 'in-force' });
    for (const pause of p.pauses || []) {
      inForce.append(el('li', { 'data-pause': pause.id },
        `Paused: ${scopeText(pause.scope)} by ${pause.by}${pause.until_ms ? ` until ${when(pause.until_ms)}` : ''} — ${pause.reason} `,
        disclose('Lift', () => lift(`lift-${pause.id}`, `Lift pause #${pause.id}`, { change: 'lift', pause_id: pause.id }))));
    }
    if (p.premium) {
      inForce.append(el('li', { 'data-premium': p.premium.action },
        `Premium lanes only for ${p.premium.allowed_workflows.join(', ') || 'no workflow'}; others ${p.premium.action === 'refuse' ? 'refused' : 'moved to ordinary lanes'} (by ${p.premium.by}: ${p.premium.reason}) `,
        disclose('Lift', () => lift('lift-premium', 'Lift the premium restriction', { change: 'lift_premium_restriction' }))));
    }
    for (const [workflow, lane] of Object.entries(p.pins || {})) {
      inForce.append(el('li', { 'data-pin': workflow }, `${workflow} pinned to ${lane} `,
        disclose('Unpin', () => lift(`unpin-${workflow}`, `Unpin ${workflow}`, { change: 'unpin', workflow }))));
    }
    if (p.normalized_cache) {
      const nc = p.normalized_cache;
      inForce.append(el('li', { 'data-normalized': 'on' },
        `Normalised cache matching for ${nc.all_workflows ? 'every workflow' : nc.workflows.join(', ')} `,
        disclose('Turn off', () => lift('normalized-off', 'Turn normalised matching off', { change: 'normalized_cache', all_workflows: false, workflows: [] }))));
    }
    if (!inForce.children.length) inForce.append(el('li', { text: 'No control is in force: the configuration alone decides.' }));

    const moves = el('div', { class: 'moves-row' },
      disclose('Pause', () => form('pause', `Pause traffic of ${team}`, [
        { name: 'kind', label: 'What', type: 'select', value: 'workflow', options: [['workflow', 'A workflow'], ['user', 'An end user'], ['team', 'The whole team']] },
        { name: 'value', label: 'Workflow or user (not for the whole team)' },
        { name: 'until', label: 'Until (optional, UTC)', type: 'datetime-local' },
        { name: 'reason', label: 'Reason (shown to the callers)', type: 'textarea', required: true },
      ], 'Pause now', (v) => ({
        change: 'pause',
        scope: v.kind === 'team' ? { kind: 'team' } : { kind: v.kind, value: v.value.trim() },
        until_ms: v.until ? Date.parse(`${v.until}Z`) : undefined,
        reason: v.reason,
      }))),
      disclose('Restrict premium lanes', () => form('restrict-premium', 'Premium lanes only for approved workflows', [
        { name: 'allowed', label: 'Workflows still allowed (comma-separated)' },
        { name: 'action', label: 'Other workflows', type: 'select', value: 'downgrade', options: [['downgrade', 'Move to an ordinary lane'], ['refuse', 'Refuse with an error']] },
        { name: 'reason', label: 'Reason', type: 'textarea', required: true },
      ], 'Restrict', (v) => ({ change: 'restrict_premium', allowed_workflows: names(v.allowed), action: v.action, reason: v.reason }))),
      disclose('Pin a workflow', () => form('pin', 'Serve a workflow from one lane', [
        { name: 'workflow', label: 'Workflow', required: true },
        { name: 'lane', label: 'Lane', type: 'select', options: d.lanes.map((l) => [l, l]) },
        { name: 'reason', label: 'Reason', type: 'textarea', required: true },
      ], 'Pin', (v) => ({ change: 'pin', workflow: v.workflow.trim(), lane: v.lane, reason: v.reason }))));

    card.extra(el('h3', { text: 'In force' }), inForce, el('h3', { text: 'Change' }), moves);
    card.table(
      [
        { key: 'when', label: 'When', kind: 'text' },
        { key: 'who', label: 'Who', kind: 'text' },
        { key: 'change', label: 'Change', kind: 'text' },
        { key: 'why', label: 'Why', kind: 'text' },
      ],
      d.changes.map((c) => ({ when: when(c.ts_ms), who: c.actor, change: c.change.change, why: c.reason })),
      'Every change, newest first',
    );
    const n = (p.pauses || []).length;
    card.say(n || p.premium || Object.keys(p.pins || {}).length
      ? `${n} pause${n === 1 ? '' : 's'}${p.premium ? ', premium restricted' : ''}${Object.keys(p.pins || {}).length ? `, ${Object.keys(p.pins).length} pinned` : ''}`
      : 'No traffic control in force');
    card.data({ pauses: n, premium: p.premium ? p.premium.action : 'none' });
    card.done(false);
  },
};
