// The budget views. A team: its budget period on one dollar axis (daily spend, actual
// to date, the even-pace line, the forecast and its band, the budget and its alert
// thresholds). The organisation: every team ranked by risk, each row opening the
// team, beside every team's daily spend (a click on a team's part opens it too).

import { dollars, usd, labels, dayText } from './format.js';
import { colour, options, moneyAxis, dayAxis, moneyTooltip, UP, TOTAL } from './charts.js';
import { DataTable, el, facts as factList } from './table.js';

function teamLink(ctx, team) {
  const a = el('a', { href: ctx.href({ scope: team }), class: 'team-link', text: team });
  a.addEventListener('click', (ev) => {
    if (ev.button !== 0 || ev.metaKey || ev.ctrlKey || ev.shiftKey) return;
    ev.preventDefault();
    ctx.open(team);
  });
  return a;
}

export const organisation = {
  id: 'budget',
  title: 'Budgets and wallets: teams by risk',
  scopes: ['org'],
  wide: true,
  async load(card, ctx) {
    const [teams, daily] = await Promise.all([
      ctx.get('/v1/insights/teams', ctx.rangeParams()),
      ctx.get('/v1/insights/budget', ctx.rangeParams()),
    ]);
    const ranked = teams.teams.slice().sort((a, b) => a.risk_rank - b.risk_rank);
    const risk = new DataTable(
      [
        { key: 'rank', label: 'Risk', kind: 'number' },
        { key: 'team', label: 'Team', kind: 'text', link: (r) => teamLink(ctx, r.team) },
        { key: 'status', label: 'Pace', kind: 'text' },
        { key: 'used', label: 'Budget used', kind: 'pct' },
        { key: 'spent', label: 'Spent this period', kind: 'money' },
        { key: 'budget', label: 'Budget', kind: 'money' },
        { key: 'exhaustion', label: 'Forecast exhaustion', kind: 'text' },
        { key: 'forecast', label: 'Forecast at period end', kind: 'money' },
        { key: 'balance', label: 'Wallet available', kind: 'money' },
        { key: 'runway', label: 'Wallet runway (days)', kind: 'number' },
        { key: 'range', label: 'Spend in range', kind: 'money' },
      ],
      ranked.map((t) => ({
        rank: t.risk_rank,
        team: t.team,
        status: labels[t.pace_status] || t.pace_status,
        used: t.budget ? t.budget.spent_nanos / t.budget.budget_nanos : null,
        spent: t.budget ? t.budget.spent_nanos : null,
        budget: t.budget ? t.budget.budget_nanos : null,
        exhaustion: t.budget ? t.budget.forecast.exhaustion_day : null,
        forecast: t.budget ? t.budget.forecast.period_end_nanos : null,
        balance: t.wallet ? t.wallet.available_nanos : null,
        runway: t.wallet_runway_days,
        range: t.spent_nanos,
      })),
      'Teams, most at risk first',
    );
    const copy = risk.copyButton('Copy ranking', (text) => { card.root.dataset.copiedRisk = text; });
    ctx.tables.risk = risk;
    card.extra(el('div', { class: 'risk' }, risk.root, el('div', { class: 'under-table' }, copy)));

    const datasets = daily.daily.map((t, i) => ({
      label: t.team,
      team: t.team,
      data: t.values.map(dollars),
      backgroundColor: colour(i),
      stack: 'daily',
    }));
    card.chart(
      {
        type: 'bar',
        data: { labels: daily.days, datasets },
        options: options({
          interaction: { mode: 'nearest', intersect: true },
          scales: { x: dayAxis(daily.time_zone, { stacked: true }), y: moneyAxis('Daily spend', { stacked: true }) },
          plugins: { legend: { position: 'bottom' }, tooltip: moneyTooltip },
        }),
      },
      { team: (e) => datasets[e.datasetIndex].team, open: ctx.open },
    );
    card.table(
      [{ key: 'day', label: 'Day', kind: 'text' }, ...daily.daily.map((t) => ({ key: t.team, label: t.team, kind: 'money' })), { key: 'total', label: 'Total', kind: 'money' }],
      daily.days.map((day, i) => {
        const row = { day };
        let total = 0;
        for (const t of daily.daily) {
          row[t.team] = t.values[i];
          total += t.values[i];
        }
        row.total = total;
        return row;
      }),
      `Daily spend by team (${daily.time_zone})`,
    );
    ctx.headline(daily.summary);
    card.say(daily.summary);
    card.notes(daily.sentences);
    card.data({ totalNanos: String(daily.total_spent_nanos), teams: ranked.map((t) => t.team) });
    card.done(daily.total_spent_nanos === 0 && ranked.length === 0);
  },
};

export const team = {
  id: 'budget',
  title: 'Spend against budget',
  scopes: ['team'],
  wide: true,
  async load(card, ctx) {
    const d = await ctx.get('/v1/insights/budget', ctx.rangeParams({ team: ctx.scope }));
    const b = d.budget;
    const spend = d.daily[0] ? d.daily[0].values : d.days.map(() => 0);
    const past = (i) => d.actual[i] !== null;
    const datasets = [
      {
        type: 'bar', label: 'Daily spend', data: spend.map((v, i) => (past(i) ? dollars(v) : null)),
        backgroundColor: 'rgba(86,180,233,0.55)', order: 4,
      },
      {
        type: 'line', label: 'Actual to date', data: d.actual.map(dollars),
        borderColor: '#000000', backgroundColor: '#000000', pointRadius: 0, borderWidth: 2, order: 1,
      },
    ];
    if (b) {
      datasets.push({
        type: 'line', label: 'Even pace', data: d.pace.map(dollars),
        borderColor: '#59636e', borderDash: [2, 3], pointRadius: 0, borderWidth: 1.5, order: 2,
      });
      datasets.push({
        type: 'line', label: 'Forecast low', data: d.forecast_low.map(dollars),
        borderColor: 'rgba(0,114,178,0.35)', borderWidth: 1, pointRadius: 0, fill: false, order: 3,
      });
      datasets.push({
        type: 'line', label: 'Forecast band', data: d.forecast_high.map(dollars),
        borderColor: 'rgba(0,114,178,0.35)', borderWidth: 1, pointRadius: 0, backgroundColor: 'rgba(0,114,178,0.15)', fill: '-1', order: 3,
      });
      datasets.push({
        type: 'line', label: `Forecast ${usd(b.forecast.period_end_nanos)}`, data: d.forecast.map(dollars),
        borderColor: TOTAL, borderDash: [6, 4], pointRadius: 0, borderWidth: 2, order: 1,
      });
      datasets.push({
        type: 'line', label: `Budget ${usd(b.budget_nanos)}`, data: d.days.map(() => dollars(b.budget_nanos)),
        borderColor: UP, pointRadius: 0, borderWidth: 2, order: 1,
      });
      for (const t of b.thresholds) {
        if (t.pct >= 100) continue;
        datasets.push({
          type: 'line', label: `${t.pct}% threshold`, data: d.days.map(() => dollars(t.nanos)),
          borderColor: '#E69F00', borderDash: [1, 4], pointRadius: 0, borderWidth: 1.5, order: 2,
        });
      }
    }
    card.chart({
      data: { labels: d.days, datasets },
      options: options({
        scales: { x: dayAxis(d.time_zone), y: moneyAxis('US dollars') },
        plugins: {
          legend: { position: 'bottom', labels: { boxWidth: 14, filter: (item) => item.text !== 'Forecast low' } },
          tooltip: moneyTooltip,
        },
      }),
    });
    card.table(
      [
        { key: 'day', label: 'Day', kind: 'text' },
        { key: 'spend', label: 'Daily spend', kind: 'money' },
        { key: 'actual', label: 'Actual to date', kind: 'money' },
        { key: 'pace', label: 'Even pace', kind: 'money' },
        { key: 'forecast', label: 'Forecast', kind: 'money' },
        { key: 'low', label: 'Forecast low', kind: 'money' },
        { key: 'high', label: 'Forecast high', kind: 'money' },
      ],
      d.days.map((day, i) => ({
        day,
        spend: past(i) ? spend[i] : null,
        actual: d.actual[i],
        pace: d.pace[i],
        forecast: d.forecast[i],
        low: d.forecast_low[i],
        high: d.forecast_high[i],
      })),
      b ? `${b.team}'s ${b.period} budget, ${b.period_start} to ${d.days[d.days.length - 1]} (${d.time_zone})` : `Daily spend (${d.time_zone})`,
    );
    if (b) {
      const facts = [
        ['Budget', usd(b.budget_nanos)],
        ['Spent', `${usd(b.spent_nanos)} (${b.used_pct}%)`],
        ['Even pace by now', usd(b.pace_nanos)],
        ['Pace', labels[b.pace_status] || b.pace_status],
        [b.complete ? 'Final' : 'Forecast at period end', b.complete ? usd(b.spent_nanos) : `${usd(b.forecast.period_end_nanos)} (${usd(b.forecast.low_nanos)} – ${usd(b.forecast.high_nanos)})`],
        ['Exhausted on', b.forecast.exhaustion_day ? dayText(b.forecast.exhaustion_day) : 'not this period'],
      ];
      card.extra(factList(facts, 'budget'));
    } else {
      card.extra();
    }
    ctx.headline(d.summary);
    card.say(d.summary);
    card.notes(b ? [] : ['No billing budget is set for this team: its wallet (below) is its only limit.']);
    card.data({
      totalNanos: String(d.total_spent_nanos),
      budgetNanos: String(b ? b.budget_nanos : 0),
      paceStatus: b ? b.pace_status : 'no_budget',
    });
    card.done(d.total_spent_nanos === 0 && !b);
  },
};
