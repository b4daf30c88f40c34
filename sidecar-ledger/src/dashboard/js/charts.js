// Chart.js settings shared by the views: colours, axes and tooltips in dollars and
// percent. Chart.js is the vendored UMD build (global `Chart`).

import { moneyText } from './format.js';

// Okabe–Ito: distinguishable with the common colour-vision deficiencies.
export const PALETTE = ['#0072B2', '#E69F00', '#009E73', '#CC79A7', '#56B4E9', '#D55E00', '#F0E442', '#000000'];
export const UP = '#D55E00';
export const DOWN = '#009E73';
export const TOTAL = '#0072B2';
export const colour = (i) => PALETTE[i % PALETTE.length];

export function options(extra) {
  return Object.assign(
    {
      responsive: true,
      maintainAspectRatio: false,
      animation: false,
      interaction: { mode: 'index', intersect: false },
      plugins: { legend: { position: 'bottom', labels: { boxWidth: 14 } } },
    },
    extra || {},
  );
}

export const moneyAxis = (title, extra) =>
  Object.assign(
    { beginAtZero: true, title: { display: !!title, text: title }, ticks: { callback: (v) => moneyText(v) } },
    extra || {},
  );

export const pctAxis = (title, extra) =>
  Object.assign(
    { beginAtZero: true, max: 100, title: { display: !!title, text: title }, ticks: { callback: (v) => `${v}%` } },
    extra || {},
  );

/** An x axis of days, titled with the time zone they are days of. */
export const dayAxis = (zone, extra) => Object.assign({ title: { display: true, text: `Day (${zone})` } }, extra || {});

export const moneyTooltip = {
  callbacks: {
    label: (ctx) => {
      const v = ctx.raw;
      const name = ctx.dataset.label || ctx.label;
      if (v === null || v === undefined) return null;
      if (Array.isArray(v)) return `${name}: ${moneyText(v[1] - v[0])}`;
      return `${name}: ${moneyText(v)}`;
    },
  },
};

export const pctTooltip = {
  callbacks: { label: (c) => (c.raw === null || c.raw === undefined ? null : `${c.dataset.label}: ${c.raw}%`) },
};
