// Spend by team (the organisation): each team's spend in the range beside its wallet
// balance; a click anywhere on a team's row of bars opens the team.

import { dollars } from './format.js';
import { colour, options, moneyAxis, moneyTooltip } from './charts.js';

export default {
  id: 'teams',
  title: 'Spend by team',
  scopes: ['org'],
  async load(card, ctx) {
    const d = await ctx.get('/v1/insights/teams', ctx.rangeParams());
    const teams = d.teams.map((t) => t.team);
    card.chart(
      {
        type: 'bar',
        data: {
          labels: teams,
          datasets: [
            { label: 'Spend in range', data: d.teams.map((t) => dollars(t.spent_nanos)), backgroundColor: colour(0) },
            { label: 'Wallet available', data: d.teams.map((t) => (t.wallet ? dollars(t.wallet.available_nanos) : null)), backgroundColor: colour(1) },
          ],
        },
        options: options({
          indexAxis: 'y',
          interaction: { mode: 'y', intersect: false },
          scales: { x: moneyAxis('US dollars') },
          plugins: { legend: { position: 'bottom' }, tooltip: moneyTooltip },
        }),
      },
      // The row under the pointer, wherever along it the click lands.
      { mode: 'y', axis: 'y', team: (e) => teams[e.index], open: ctx.open },
    );
    card.table(
      [
        { key: 'team', label: 'Team', kind: 'text' },
        { key: 'spent', label: 'Spend in range', kind: 'money' },
        { key: 'requests', label: 'Requests', kind: 'number' },
        { key: 'avoided', label: 'Cost avoided by cache', kind: 'money' },
        { key: 'available', label: 'Wallet available', kind: 'money' },
      ],
      d.teams.map((t) => ({
        team: t.team,
        spent: t.spent_nanos,
        requests: t.requests,
        avoided: t.cost_avoided_nanos,
        available: t.wallet ? t.wallet.available_nanos : null,
      })),
    );
    card.say(d.summary);
    card.notes(d.teams.map((t) => t.summary));
    card.data({ teams, totalNanos: String(d.total_spent_nanos) });
    card.done(d.total_spent_nanos === 0);
  },
};
