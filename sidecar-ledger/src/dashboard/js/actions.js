// Leaders' actions on the page: a small form that posts one JSON body to the ledger
// and says, in the form, what happened. Every submission carries a fresh idempotency
// key, so a double click or a retried request changes nothing twice. Forms are marked
// for people and tests alike: <form data-action="NAME" data-result="ok|error">.

import { el } from './table.js';
import { post } from './api.js';

const newKey = () =>
  (crypto.randomUUID ? crypto.randomUUID() : `${Date.now()}-${Math.random().toString(16).slice(2)}`);

/** Whether the signed-in principal decides for every team (finance or admin). */
export const approver = (session) => session.role === 'admin' || session.role === 'finance';

function input(f) {
  const id = `f-${f.form}-${f.name}`;
  let control;
  if (f.type === 'select') {
    control = el('select', { id, name: f.name });
    for (const [value, text] of f.options) {
      const o = el('option', { value, text });
      if (String(value) === String(f.value ?? '')) o.selected = true;
      control.append(o);
    }
  } else if (f.type === 'textarea') {
    control = el('textarea', { id, name: f.name, rows: 2, required: f.required, placeholder: f.placeholder });
    control.value = f.value ?? '';
  } else {
    control = el('input', {
      id, name: f.name, type: f.type || 'text', required: f.required, placeholder: f.placeholder,
      inputmode: f.type === 'money' ? 'decimal' : undefined,
    });
    if (f.type === 'money') control.type = 'text';
    control.value = f.value ?? '';
  }
  return el('label', { class: 'field', for: id }, el('span', { text: f.label }), control);
}

/**
 * A form posting to `path`. `fields`: [{ name, label, type?: text|money|select|textarea|
 * date|datetime-local, value?, options?: [[value, text]], required?, placeholder? }].
 * `body(values)` turns the fields into the request body (with `keyed`, the default, an
 * idempotency key is added: decisions are idempotent by themselves);
 * `done(answer)` returns the sentence shown on success and may reload the card.
 */
export function actionForm({ name, legend, fields, submitLabel, path, body, done, keyed = true }) {
  const status = el('p', { class: 'action-status', role: 'status' });
  const button = el('button', { type: 'submit', class: 'button', text: submitLabel });
  const form = el('form', { class: 'action', 'data-action': name },
    el('fieldset', {}, el('legend', { text: legend }),
      ...fields.map((f) => input({ ...f, form: name })), button),
    status);
  form.addEventListener('submit', async (ev) => {
    ev.preventDefault();
    const values = Object.fromEntries(new FormData(form).entries());
    button.disabled = true;
    form.dataset.result = 'pending';
    try {
      const payload = body(values);
      if (keyed) payload.idempotency_key = newKey();
      const answer = await post(typeof path === 'function' ? path(values) : path, payload);
      status.textContent = (await done(answer)) || 'Done.';
      form.dataset.result = 'ok';
    } catch (e) {
      status.textContent = e.message;
      form.dataset.result = 'error';
    } finally {
      button.disabled = false;
    }
  });
  return form;
}

/** A button that opens (and closes) a form below it. */
export function disclose(label, makeForm) {
  const box = el('div', { class: 'disclose' });
  const button = el('button', { type: 'button', class: 'button secondary', 'aria-expanded': 'false', text: label });
  let form = null;
  button.addEventListener('click', () => {
    if (form) {
      form.remove();
      form = null;
      button.setAttribute('aria-expanded', 'false');
      return;
    }
    form = makeForm();
    box.append(form);
    button.setAttribute('aria-expanded', 'true');
    const first = form.querySelector('input, select, textarea');
    if (first) first.focus();
  });
  box.append(button);
  return box;
}

/** Comma- or space-separated names as a list. */
export const names = (text) => (text || '').split(/[\s,]+/).map((s) => s.trim()).filter(Boolean);
