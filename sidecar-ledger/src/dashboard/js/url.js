// The page's state in its address: who (`scope`: the organisation or a team), when
// (`range`: a preset, or custom `from`/`to` dates, `to` exclusive as the API reads
// it) and which page (`view`: the board or the review report). A view can be shared
// by its link; drilling in pushes browser history so Back goes up a level.

import { DEFAULT_PRESET, PRESETS } from './period.js';

const PRESET_IDS = PRESETS.map(([id]) => id);
const DATE = /^\d{4}-\d{2}-\d{2}$/;

export function parse(hash) {
  const h = new URLSearchParams((hash || '').replace(/^#/, ''));
  let scope = h.get('scope') || h.get('team') || null;
  if (scope === 'org') scope = null;
  let preset = h.get('range');
  const from = h.get('from');
  const to = h.get('to');
  if (!PRESET_IDS.includes(preset)) preset = from && to ? 'custom' : DEFAULT_PRESET;
  const custom = preset === 'custom' && DATE.test(from || '') && DATE.test(to || '') && from < to ? { from, to } : null;
  if (preset === 'custom' && !custom) preset = DEFAULT_PRESET;
  return { scope, preset, custom, view: h.get('view') === 'report' ? 'report' : 'board', token: h.get('token') };
}

export function format(state) {
  const h = new URLSearchParams();
  h.set('scope', state.scope || 'org');
  h.set('range', state.preset);
  if (state.preset === 'custom' && state.custom) {
    h.set('from', state.custom.from);
    h.set('to', state.custom.to);
  }
  if (state.view === 'report') h.set('view', 'report');
  return `#${h}`;
}

/** Writes `state` to the address bar: a new history entry when `push`. */
export function write(state, push) {
  const hash = format(state);
  if (location.hash === hash) return;
  if (push) history.pushState(null, '', hash);
  else history.replaceState(null, '', hash);
}
