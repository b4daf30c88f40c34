// Fired alerts: each with its sentence, where it was delivered (per channel:
// delivered, failed with the last error, or pending), a link to the card that explains
// it and one to the card whose move answers it, and who acknowledged it. Open alerts
// (not yet acknowledged) are counted. On a team's board, the team's own channels
// (webhook, Slack-compatible webhook, email) are listed, added and removed here.

import { el } from './table.js';
import { actionForm, approver, disclose } from './actions.js';
import { remove } from './api.js';

const when = (ms) => new Date(ms).toISOString().slice(0, 16).replace('T', ' ') + ' UTC';

// The buttons that open the answering form in each card, by view.
const OPENERS = {
  requests: ['Ask for more allocation'],
  'budget-settings': ['Change the budget', 'Propose a change'],
  policy: ['Pause'],
};

/** Opens the team's board (if needed), scrolls to the card and opens its form. */
function goTo(ctx, team, view, open) {
  if (ctx.scope !== team) ctx.open(team);
  const started = Date.now();
  const tick = () => {
    const card = document.body.dataset.scope === team ? document.getElementById(`card-${view}`) : null;
    if (!card || card.dataset.state === 'loading') {
      if (Date.now() - started < 10000) setTimeout(tick, 100);
      return;
    }
    card.scrollIntoView({ block: 'start' });
    card.classList.add('highlight');
    setTimeout(() => card.classList.remove('highlight'), 2000);
    const labels = open ? OPENERS[view] || [] : [];
    const button = [...card.querySelectorAll('.disclose > button')].find((b) => labels.includes(b.textContent));
    if (button && button.getAttribute('aria-expanded') !== 'true') button.click();
  };
  tick();
}

function link(ctx, a, which) {
  const target = a[which];
  const node = el('a', {
    class: `alert-${which}`, href: ctx.href({ scope: a.team }), 'data-view': target.view, text: target.label,
  });
  node.addEventListener('click', (ev) => {
    ev.preventDefault();
    goTo(ctx, a.team, target.view, which === 'action');
  });
  return node;
}

function delivery(d) {
  let text;
  if (d.status === 'delivered') text = `delivered ${d.delivered_ms ? when(d.delivered_ms) : ''}`;
  else if (d.status === 'failed') text = `failed after ${d.attempts} attempt${d.attempts === 1 ? '' : 's'}: ${d.last_error || 'unknown error'}`;
  else text = d.attempts ? `pending (retrying: ${d.last_error || 'not delivered yet'})` : 'pending';
  return el('li', { class: 'delivery', 'data-status': d.status, 'data-channel': d.channel },
    el('span', { class: 'channel', text: `${d.channel} (${d.target})` }), ': ', text);
}

function acknowledgement(a, ctx, card) {
  if (a.acknowledgement) {
    const k = a.acknowledgement;
    return el('p', { class: 'ack muted', text: `Acknowledged by ${k.by}, ${when(k.at_ms)}${k.note ? `: ${k.note}` : ''}` });
  }
  return disclose('Acknowledge', () => actionForm({
    name: `ack-${a.id}`, legend: `Acknowledge alert #${a.id}`,
    fields: [{ name: 'note', label: 'Note (optional)', type: 'textarea' }],
    submitLabel: 'Acknowledge',
    path: `/v1/teams/${encodeURIComponent(a.team)}/alerts/${a.id}/acknowledge`,
    body: (v) => ({ note: v.note || undefined }),
    done: async (answer) => {
      setTimeout(() => ctx.reload(card), 600);
      return `Acknowledged by ${answer.alert.acknowledgement.by}.`;
    },
  }));
}

function item(a, ctx, card) {
  const head = `${a.title}${ctx.scope ? '' : ` · ${a.team}`}${a.subject ? ` · ${a.subject}` : ''} — ${when(a.fired_ms)}`;
  return el('li', { class: 'alert', 'data-id': a.id, 'data-kind': a.kind, 'data-team': a.team, 'data-open': String(a.open) },
    el('p', {}, el('strong', { text: head })),
    el('p', { class: 'message', text: a.message }),
    a.deliveries.length
      ? el('ul', { class: 'deliveries' }, ...a.deliveries.map(delivery))
      : el('p', { class: 'muted', text: 'No channel: shown here only.' }),
    el('p', { class: 'alert-links' }, link(ctx, a, 'explain'), ' · ', link(ctx, a, 'action')),
    acknowledgement(a, ctx, card));
}

function channelItem(c, ctx, card, team) {
  const status = el('span', { class: 'action-status', role: 'status' });
  const button = el('button', { type: 'button', class: 'button secondary', text: 'Remove' });
  button.addEventListener('click', async () => {
    button.disabled = true;
    try {
      await remove(`/v1/teams/${encodeURIComponent(team)}/alert-channels/${c.id}`);
      ctx.reload(card);
    } catch (e) {
      status.textContent = e.message;
      button.disabled = false;
    }
  });
  return el('li', { class: 'channel-item', 'data-id': c.id, 'data-kind': c.kind },
    `${c.name}: ${c.kind} ${c.target} (${c.receives.join(' and ')}; added by ${c.created_by}) `, button, status);
}

// The organisation's channels are team '*': every team's alerts, finance's digest.
const ORG = '*';

function channels(list, ctx, card, team) {
  const whose = team === ORG ? 'the organisation' : team;
  const form = () => actionForm({
    name: 'add-channel', legend: `A channel for ${whose}'s alerts and digests`,
    fields: [
      { name: 'kind', label: 'Kind', type: 'select', value: 'slack', options: [['slack', 'Slack-compatible webhook'], ['webhook', 'Webhook (JSON)'], ['email', 'Email']] },
      { name: 'name', label: 'Name', required: true, placeholder: 'support on-call' },
      { name: 'target', label: 'Webhook URL or email addresses', required: true },
      { name: 'receives', label: 'Receives', type: 'select', value: 'both', options: [['both', 'Alerts and digests'], ['alerts', 'Alerts'], ['digests', 'Digests']] },
    ],
    submitLabel: 'Add channel', path: `/v1/teams/${encodeURIComponent(team)}/alert-channels`,
    body: (v) => ({ kind: v.kind, name: v.name, target: v.target, receives: v.receives === 'both' ? ['alerts', 'digests'] : [v.receives] }),
    done: async (answer) => {
      setTimeout(() => ctx.reload(card), 600);
      return `Added ${answer.channel.name} (${answer.channel.target}).`;
    },
  });
  const digest = () => actionForm({
    name: 'send-digest', legend: team === ORG ? 'Send finance\'s monthly digest now' : `Send ${team}'s weekly digest now`,
    fields: [], keyed: false,
    submitLabel: 'Send now', path: `/v1/teams/${encodeURIComponent(team)}/digest`,
    body: () => ({}),
    done: async (answer) => `Sent to ${answer.channels} channel${answer.channels === 1 ? '' : 's'}: ${answer.digest.subject}`,
  });
  return el('section', { class: 'channels' },
    el('h3', { text: team === ORG ? 'Organisation channels (every team\'s alerts, the monthly digest)' : 'Channels' }),
    list.length
      ? el('ul', { class: 'channel-list' }, ...list.map((c) => channelItem(c, ctx, card, team)))
      : el('p', { class: 'muted', text: team === ORG ? 'No organisation channel: alerts go to the configured webhooks only.' : 'No channel of the team yet: its alerts go to the organisation\'s channels only.' }),
    disclose('Add a channel', form),
    disclose(team === ORG ? 'Send the monthly digest' : 'Send the weekly digest', digest));
}

export default {
  id: 'alerts',
  title: 'Alerts',
  scopes: ['org', 'team'],
  wide: true,
  noChart: true,
  async load(card, ctx) {
    const team = ctx.scope;
    const d = team
      ? await ctx.get(`/v1/teams/${encodeURIComponent(team)}/alerts`, { limit: 50 })
      : await ctx.get('/v1/alerts', { limit: 50 });
    const nodes = [el('ul', { class: 'alerts' }, ...d.alerts.map((a) => item(a, ctx, card)))];
    const owner = team || (approver(ctx.session) ? ORG : null);
    if (owner) {
      const c = await ctx.get(`/v1/teams/${encodeURIComponent(owner)}/alert-channels`);
      nodes.push(channels(c.channels, ctx, card, owner));
    }
    card.extra(...nodes);
    card.table(
      [
        { key: 'id', label: '#', kind: 'number' },
        { key: 'kind', label: 'Kind', kind: 'text' },
        { key: 'team', label: 'Team', kind: 'text' },
        { key: 'fired', label: 'Fired (UTC)', kind: 'text' },
        { key: 'status', label: 'Status', kind: 'text' },
      ],
      d.alerts.map((a) => ({ id: a.id, kind: a.title, team: a.team, fired: when(a.fired_ms), status: a.open ? 'open' : `acknowledged by ${a.acknowledgement.by}` })),
    );
    const more = d.open_capped ? '+' : '';
    card.say(d.open
      ? `${d.open}${more} open alert${d.open === 1 && !more ? '' : 's'} of ${d.alerts.length} shown`
      : d.alerts.length ? 'No open alert: every alert shown is acknowledged' : 'No alert has fired');
    card.data({ open: d.open });
    card.done(d.alerts.length === 0 && !team);
  },
};
