// Numbers, money and dates as the page shows them. Money arrives as integer
// nanodollars; days as YYYY-MM-DD dates of the organisation's reporting time zone.

const money = new Intl.NumberFormat('en-US', { style: 'currency', currency: 'USD' });
const count = new Intl.NumberFormat('en-US');

export const usd = (nanos) => money.format((nanos || 0) / 1e9);
export const dollars = (nanos) => (nanos === null || nanos === undefined ? null : nanos / 1e9);
export const moneyText = (dollarsValue) => money.format(dollarsValue);
export const number = (n) => count.format(n || 0);
export const pct = (fraction) => (fraction === null || fraction === undefined ? null : Math.round(fraction * 1000) / 10);
export const pctText = (fraction) => (fraction === null || fraction === undefined ? '–' : `${pct(fraction)}%`);

/** `13:05 CET`: an instant as a time of day in the reporting zone, with its name. */
export function timeIn(ms, zone) {
  const f = new Intl.DateTimeFormat('en-GB', { hour: '2-digit', minute: '2-digit', second: '2-digit', timeZone: zone, timeZoneName: 'short' });
  return f.format(new Date(ms));
}

/** `Mon 3 Nov 2026` for a YYYY-MM-DD date (a calendar date: no zone shift). */
export function dayText(date) {
  const [y, m, d] = date.split('-').map(Number);
  const f = new Intl.DateTimeFormat('en-GB', { weekday: 'short', day: 'numeric', month: 'short', year: 'numeric', timeZone: 'UTC' });
  return f.format(new Date(Date.UTC(y, m - 1, d)));
}

/** `3 Nov` for a YYYY-MM-DD date. */
export function shortDay(date) {
  const [y, m, d] = date.split('-').map(Number);
  const f = new Intl.DateTimeFormat('en-GB', { day: 'numeric', month: 'short', timeZone: 'UTC' });
  return f.format(new Date(Date.UTC(y, m - 1, d)));
}

export const labels = {
  wallet_empty: 'Wallet empty',
  over_budget: 'Over budget',
  will_exceed: 'On pace to exceed',
  ahead_of_pace: 'Ahead of even pace',
  on_track: 'On track',
  no_budget: 'No budget',
};
