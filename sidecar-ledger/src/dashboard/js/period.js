// The page's date range: presets, the days they cover, and like-for-like comparison
// periods. Pure functions of YYYY-MM-DD dates in the organisation's reporting time
// zone (`today` comes from the ledger), so they never depend on the browser's zone.
// Ranges are inclusive of `from` and exclusive of `to`, as the API reads them.

export const PRESETS = [
  ['today', 'Today'],
  ['7d', 'Last 7 days'],
  ['30d', 'Last 30 days'],
  ['mtd', 'Month to date'],
  ['lastmonth', 'Last month'],
  ['qtd', 'Quarter to date'],
  ['custom', 'Custom…'],
];
export const DEFAULT_PRESET = '30d';

const DAY = 86400000;
const ms = (date) => Date.parse(`${date}T00:00:00Z`);
const date = (t) => new Date(t).toISOString().slice(0, 10);
export const addDays = (d, n) => date(ms(d) + n * DAY);
export const daysBetween = (from, to) => Math.round((ms(to) - ms(from)) / DAY);

function monthStart(d, add = 0) {
  const t = new Date(ms(d));
  return date(Date.UTC(t.getUTCFullYear(), t.getUTCMonth() + add, 1));
}

function quarterStart(d, add = 0) {
  const t = new Date(ms(d));
  const q = Math.floor(t.getUTCMonth() / 3) * 3;
  return date(Date.UTC(t.getUTCFullYear(), q + 3 * add, 1));
}

/** The range `{ preset, from, to }` (to exclusive) a preset covers on `today`. */
export function presetRange(preset, today, custom) {
  const tomorrow = addDays(today, 1);
  switch (preset) {
    case 'today': return { preset, from: today, to: tomorrow };
    case '7d': return { preset, from: addDays(today, -6), to: tomorrow };
    case 'mtd': return { preset, from: monthStart(today), to: tomorrow };
    case 'lastmonth': return { preset, from: monthStart(today, -1), to: monthStart(today) };
    case 'qtd': return { preset, from: quarterStart(today), to: tomorrow };
    case 'custom':
      if (custom && custom.from && custom.to && custom.from < custom.to) return { preset, from: custom.from, to: custom.to };
      return presetRange(DEFAULT_PRESET, today);
    default: return { preset: '30d', from: addDays(today, -29), to: tomorrow };
  }
}

/** Words for a range: `1 Nov – 3 Dec 2026 (33 days)`. */
export function rangeWords(r) {
  const n = daysBetween(r.from, r.to);
  const last = addDays(r.to, -1);
  return `${r.from === last ? r.from : `${r.from} to ${last}`} (${n} day${n === 1 ? '' : 's'})`;
}

/**
 * What the drivers card compares, like for like: B is the range's complete days
 * (today is left out until it ends), A the same number of days before it — for month
 * and quarter to date the same days of the previous month or quarter, for last month
 * the month before. `null` when the range has no complete day yet.
 */
export function comparison(r, today) {
  const bTo = r.to > today ? today : r.to;
  if (bTo <= r.from) return null;
  const b = { from: r.from, to: bTo };
  const n = daysBetween(b.from, b.to);
  let a;
  if (r.preset === 'mtd' || r.preset === 'lastmonth') {
    const aFrom = monthStart(b.from, -1);
    const aEnd = monthStart(b.from);
    a = r.preset === 'lastmonth' ? { from: aFrom, to: aEnd } : { from: aFrom, to: minDate(addDays(aFrom, n), aEnd) };
  } else if (r.preset === 'qtd') {
    const aFrom = quarterStart(b.from, -1);
    a = { from: aFrom, to: minDate(addDays(aFrom, n), quarterStart(b.from)) };
  } else {
    a = { from: addDays(b.from, -n), to: b.from };
  }
  return { a, b };
}

const minDate = (x, y) => (x < y ? x : y);
