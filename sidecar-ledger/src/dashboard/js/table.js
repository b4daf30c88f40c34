// A data table: the numbers of a chart, a ranking or a history, sortable by any
// column (keyboard: the header buttons) and copyable as tab-separated values with
// exact amounts. Cells keep their raw value in data-value.

import { usd, number, pctText } from './format.js';

export const el = (tag, attrs, ...children) => {
  const e = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs || {})) {
    if (k === 'class') e.className = v;
    else if (k === 'text') e.textContent = v;
    else if (v !== undefined && v !== null && v !== false) e.setAttribute(k, v === true ? '' : v);
  }
  for (const c of children) if (c !== null && c !== undefined && c !== false) e.append(c);
  return e;
};

/** Exact decimal dollars of integer nanodollars, for a spreadsheet. */
export function decimalDollars(nanos) {
  const neg = nanos < 0;
  const n = Math.abs(nanos);
  const whole = Math.floor(n / 1e9);
  const frac = String(Math.round(n - whole * 1e9)).padStart(9, '0');
  return `${neg ? '-' : ''}${whole}.${frac}`;
}

const SHOW = {
  money: (v) => (v === null || v === undefined ? '–' : usd(v)),
  number: (v) => (v === null || v === undefined ? '–' : number(v)),
  pct: (v) => pctText(v),
  text: (v) => (v === null || v === undefined || v === '' ? '–' : String(v)),
};
const COPY = {
  money: (v) => (v === null ? '' : decimalDollars(v)),
  number: (v) => (v === null ? '' : String(v)),
  pct: (v) => (v === null ? '' : String(Math.round(v * 100000) / 1000)),
  text: (v) => (v === null ? '' : String(v)),
};

export class DataTable {
  /** `columns`: [{ key, label, kind: 'text'|'money'|'number'|'pct', link?(row) }];
   *  `rows`: objects of raw values (money in nanodollars, shares as fractions). */
  constructor(columns, rows, caption) {
    this.columns = columns;
    this.rows = rows;
    this.caption = caption;
    this.sort = { key: null, dir: 1 };
    this.root = el('div', { class: 'table-scroll' });
    this.render();
  }

  sortBy(key) {
    const kind = this.columns.find((c) => c.key === key).kind || 'text';
    const dir = this.sort.key === key ? -this.sort.dir : kind === 'text' ? 1 : -1;
    this.sort = { key, dir };
    this.render();
    const b = this.root.querySelector(`button[data-key="${key}"]`);
    if (b) b.focus();
  }

  sorted() {
    const { key, dir } = this.sort;
    const rows = this.rows.slice();
    if (!key) return rows;
    const kind = this.columns.find((c) => c.key === key).kind || 'text';
    return rows.sort((a, b) => {
      const x = a[key];
      const y = b[key];
      if (x === y) return 0;
      if (x === null || x === undefined) return 1;
      if (y === null || y === undefined) return -1;
      return (kind === 'text' ? String(x).localeCompare(String(y)) : x - y) * dir;
    });
  }

  render() {
    const table = el('table', { class: 'data' });
    if (this.caption) table.append(el('caption', { text: this.caption }));
    const head = el('tr');
    for (const c of this.columns) {
      const sorting = this.sort.key === c.key;
      const th = el('th', {
        scope: 'col',
        class: (c.kind || 'text') === 'text' ? '' : 'num',
        'aria-sort': sorting ? (this.sort.dir > 0 ? 'ascending' : 'descending') : 'none',
      });
      const b = el('button', { type: 'button', class: 'sort', 'data-key': c.key, text: c.label });
      b.addEventListener('click', () => this.sortBy(c.key));
      th.append(b);
      head.append(th);
    }
    table.append(el('thead', {}, head));
    const body = el('tbody');
    for (const r of this.sorted()) {
      const tr = el('tr');
      this.columns.forEach((c, i) => {
        const v = r[c.key];
        const cell = el(i === 0 ? 'th' : 'td', {
          class: (c.kind || 'text') === 'text' ? '' : 'num',
          'data-value': v === null || v === undefined ? '' : String(v),
          scope: i === 0 ? 'row' : null,
        });
        if (c.link && v !== null && v !== undefined) cell.append(c.link(r));
        else cell.textContent = SHOW[c.kind || 'text'](v);
        tr.append(cell);
      });
      body.append(tr);
    }
    table.append(body);
    this.root.replaceChildren(table);
  }

  /** The table as shown (in its current order), tab-separated, exact numbers. */
  tsv() {
    const lines = [this.columns.map((c) => c.label).join('\t')];
    for (const r of this.sorted()) {
      lines.push(this.columns.map((c) => COPY[c.kind || 'text'](r[c.key] === undefined ? null : r[c.key])).join('\t'));
    }
    return lines.join('\n');
  }

  /** A button that copies [`tsv`] to the clipboard; `onCopied(text)` after. */
  copyButton(label, onCopied) {
    const b = el('button', { type: 'button', class: 'copy', text: label || 'Copy table', title: 'Copy as tab-separated values' });
    b.addEventListener('click', async () => {
      const text = this.tsv();
      let ok = false;
      try {
        await navigator.clipboard.writeText(text);
        ok = true;
      } catch (e) {
        // No clipboard API (a page not served from a secure origin): the old way.
        const area = el('textarea', { class: 'sr-only', 'aria-hidden': 'true' });
        area.value = text;
        document.body.append(area);
        area.select();
        ok = document.execCommand('copy');
        area.remove();
      }
      if (onCopied) onCopied(ok ? text : '');
      const before = b.textContent;
      b.textContent = ok ? 'Copied' : 'Copy failed';
      setTimeout(() => { b.textContent = before; }, 1500);
    });
    return b;
  }
}

/** A list of labelled facts: [[label, value], ...]. */
export function facts(pairs, name) {
  return el('dl', { class: 'facts', 'data-facts': name || null }, ...pairs.map(([k, v]) => el('div', { class: 'fact' }, el('dt', { text: k }), el('dd', { text: v }))));
}
