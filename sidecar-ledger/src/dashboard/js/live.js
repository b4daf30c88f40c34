// Today so far, kept current without a reload: polls /v1/insights/live (every
// `intervalMs`, only while the page is visible) and shows spend, requests, refusals
// and unpriced requests with the time they are as of, in the reporting time zone.

import { get, Unauthorized } from './api.js';
import { usd, number, timeIn } from './format.js';

export const live = { intervalMs: 15000, timer: null, scope: null, onToday: null, refresh: null };

export function startLive(box, scope, onToday, onSignedOut) {
  stopLive();
  live.scope = scope;
  const poll = async () => {
    if (document.visibilityState === 'hidden') return;
    try {
      const d = await get('/v1/insights/live', { team: scope });
      if (live.scope !== scope) return;
      box.hidden = false;
      box.dataset.spentNanos = String(d.spent_nanos);
      box.dataset.requests = String(d.requests);
      box.dataset.refused = String(d.refused);
      box.dataset.unpriced = String(d.unpriced);
      box.dataset.asOf = String(d.as_of_ms);
      box.dataset.today = d.today;
      box.replaceChildren();
      const strong = document.createElement('strong');
      strong.textContent = `Today so far (${d.today})`;
      box.append(
        strong,
        document.createTextNode(
          `: ${usd(d.spent_nanos)} spent · ${number(d.requests)} requests · ${number(d.refused)} refused` +
            (d.refused_wallet ? ` (${number(d.refused_wallet)} by a wallet limit)` : '') +
            (d.unpriced ? ` · ${number(d.unpriced)} unpriced (answered, cost not known)` : '') +
            ` — as of ${timeIn(d.as_of_ms, d.time_zone)}${d.time_zone === 'UTC' ? '' : ` (${d.time_zone})`}, updated every ${Math.round(live.intervalMs / 1000)} s`,
        ),
      );
      if (onToday) onToday(d.today);
    } catch (e) {
      if (e instanceof Unauthorized) onSignedOut();
      // Otherwise the strip keeps its last numbers and "as of" says how old they are.
    }
  };
  live.refresh = poll;
  const tick = () => {
    live.timer = setTimeout(async () => {
      await poll();
      if (live.scope === scope) tick();
    }, live.intervalMs);
  };
  poll();
  tick();
}

export function stopLive() {
  if (live.timer) clearTimeout(live.timer);
  live.timer = null;
  live.scope = undefined;
}

document.addEventListener('visibilitychange', () => {
  if (document.visibilityState === 'visible' && live.refresh && live.scope !== undefined) live.refresh();
});
