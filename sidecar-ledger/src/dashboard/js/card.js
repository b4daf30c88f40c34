// A card: one view of the board or the report. It owns its DOM, its chart and the
// table beside the chart (the same numbers, sortable and copyable), and says how it
// is doing, for people and tests alike:
//   <article data-chart="ID" data-state="loading|ready|empty|error" data-summary="…">
//   window.tollgate.charts[ID] is its Chart, window.tollgate.tables[ID] its table.

import { DataTable, el } from './table.js';

export const registry = { charts: {}, tables: {} };

export class Card {
  constructor(def) {
    this.id = def.id;
    this.def = def;
    this.chartObj = null;
    this.root = el('article', {
      class: `card${def.wide ? ' wide' : ''}`,
      id: `card-${def.id}`,
      'data-chart': def.id,
      'data-state': 'loading',
      'aria-labelledby': `card-${def.id}-title`,
    });
    this.heading = el('h2', { id: `card-${def.id}-title`, text: def.title });
    this.tools = el('div', { class: 'tools' });
    this.root.append(el('header', { class: 'card-head' }, this.heading, this.tools));
    this.extraBox = el('div', { class: 'card-extra' });
    this.canvas = el('canvas', { role: 'img' });
    this.chartBox = el('div', { class: 'chart-box' }, this.canvas);
    this.tableBox = el('div', { class: 'table-box', hidden: true });
    this.figure = el('div', { class: 'figure', 'data-view': 'chart' }, this.chartBox, this.tableBox);
    this.sayBox = el('p', { class: 'say' });
    this.notesBox = el('ul', { class: 'notes' });
    this.root.append(this.extraBox, this.figure, this.sayBox, this.notesBox);
    if (def.noChart) this.figure.hidden = true;
  }

  /** The chart from a Chart.js config. With `drill`, a click or tap on a part of it
   *  opens the team `drill.team(element)` names; the part is the one under the
   *  pointer, found with `drill.mode` (default: the element hit). */
  chart(config, drill) {
    if (this.chartObj) this.chartObj.destroy();
    if (drill) {
      const hit = (evt, chart) =>
        chart.getElementsAtEventForMode(evt, drill.mode || 'nearest', { intersect: drill.mode ? false : true, axis: drill.axis }, true);
      config.options = config.options || {};
      config.options.onClick = (evt, _active, chart) => {
        const found = hit(evt, chart);
        const team = found.length ? drill.team(found[0]) : null;
        if (team) drill.open(team);
      };
      config.options.onHover = (evt, _active, chart) => {
        const found = hit(evt, chart);
        chart.canvas.style.cursor = found.length && drill.team(found[0]) ? 'pointer' : 'default';
      };
    }
    this.chartObj = new Chart(this.canvas, config);
    registry.charts[this.id] = this.chartObj;
    return this.chartObj;
  }

  /** The table of the chart's numbers (see [`DataTable`]), and the chart/table
   *  switch and copy button in the card's head. */
  table(columns, rows, caption) {
    this.dataTable = new DataTable(columns, rows, caption);
    registry.tables[this.id] = this.dataTable;
    this.tableBox.replaceChildren(this.dataTable.root);
    if (this.def.noChart) {
      this.figure.hidden = false;
      this.show('table');
    } else if (!this.switcher) {
      this.addSwitch();
    }
    const copy = this.dataTable.copyButton('Copy table', (text) => { this.root.dataset.copied = text; });
    if (this.copyButton) this.copyButton.replaceWith(copy);
    else this.tools.append(copy);
    this.copyButton = copy;
    return this.dataTable;
  }

  show(view) {
    this.figure.dataset.view = view;
    this.chartBox.hidden = view !== 'chart';
    this.tableBox.hidden = view !== 'table';
    if (this.switcher) {
      for (const b of this.switcher.querySelectorAll('button')) b.setAttribute('aria-pressed', String(b.dataset.view === view));
    }
  }

  addSwitch() {
    this.switcher = el('div', { class: 'switch', role: 'group', 'aria-label': `${this.def.title}: show as` });
    for (const [view, label] of [['chart', 'Chart'], ['table', 'Table']]) {
      const b = el('button', { type: 'button', 'data-view': view, 'aria-pressed': String(view === 'chart'), text: label });
      b.addEventListener('click', () => this.show(view));
      this.switcher.append(b);
    }
    this.tools.prepend(this.switcher);
  }

  /** Content above the chart: facts, a ranking, a form. */
  extra(...nodes) {
    this.extraBox.replaceChildren(...nodes);
  }

  say(summary) {
    this.sayBox.textContent = summary;
    this.canvas.setAttribute('aria-label', summary);
    this.root.dataset.summary = summary;
  }

  notes(lines) {
    this.notesBox.replaceChildren(...(lines || []).map((l) => el('li', { text: l })));
  }

  /** Numbers for tests and tools, as data-* attributes. */
  data(values) {
    for (const [k, v] of Object.entries(values || {})) this.root.dataset[k] = typeof v === 'string' ? v : JSON.stringify(v);
  }

  done(empty) {
    this.root.dataset.state = empty ? 'empty' : 'ready';
  }

  fail(e) {
    this.root.dataset.state = 'error';
    this.sayBox.textContent = `Could not load: ${e.message}`;
  }

  destroy() {
    if (this.chartObj) this.chartObj.destroy();
    if (registry.charts[this.id] === this.chartObj) delete registry.charts[this.id];
    if (registry.tables[this.id] === this.dataTable) delete registry.tables[this.id];
  }
}
