// Which views the page shows, in order: the board (per scope) and the review report
// (the five questions a leader answers, each by some of the board's views).
//
// To add a view: write `view-NAME.js` exporting `{ id, title, scopes: ['org'|'team'],
// wide?, noChart?, async load(card, ctx) }` (see card.js for what a card offers and
// app.js `context` for ctx), list it below, and add the file to the ledger's asset
// table (dashboard/mod.rs). Actions (buttons that change something) belong in a
// view's `load`, posting through api.js and calling `ctx.reload(card)` after.

import * as budget from './view-budget.js';
import teams from './view-teams.js';
import wallet from './view-wallet.js';
import drivers from './view-drivers.js';
import mix from './view-mix.js';
import cache from './view-cache.js';
import premium from './view-premium.js';
import { users, workflows } from './view-top.js';
import exportPanel from './view-export.js';
import moves from './view-moves.js';
import requests from './view-requests.js';
import budgetSettings from './view-budget-settings.js';
import policy from './view-policy.js';
import alerts from './view-alerts.js';
import reconciliation from './view-reconciliation.js';

export const BOARD = [
  budget.organisation,
  budget.team,
  alerts,
  moves,
  teams,
  wallet,
  drivers,
  mix,
  cache,
  premium,
  users,
  workflows,
  requests,
  budgetSettings,
  policy,
  exportPanel,
  reconciliation,
];

export const REPORT = [
  { question: 'Who owns the spend?', views: ['teams', 'users', 'workflows'] },
  { question: 'How fast is it moving toward its limits?', views: ['budget', 'wallet'] },
  { question: 'What is driving the change?', views: ['drivers', 'cache'] },
  { question: 'Is the pattern intentional?', views: ['premium', 'mix'] },
  { question: 'What evidence can be exported?', views: ['export', 'reconciliation'] },
  { question: 'What can be done now?', views: ['alerts', 'moves', 'requests'] },
];

/** The views for a scope (`null`: the organisation). */
export function viewsFor(scope) {
  const kind = scope ? 'team' : 'org';
  return BOARD.filter((v) => v.scopes.includes(kind));
}
