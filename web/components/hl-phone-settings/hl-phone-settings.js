// <hl-phone-settings> — the admin's phone settings: blocked numbers (their calls are rejected),
// caller-id rules (which number an outbound call shows, by the dialled number's prefix) and the
// dialled numbers' greeting, language, queue and menu (Twilio), and the call disposition codes
// agents pick at the end of a call (English and Chinese names, order, active). Every change goes
// through the /api/voice/* and /api/call-dispositions admin routes, which check the input and
// write the audit log.
// Usage: <hl-phone-settings></hl-phone-settings> (the console shows it at #/admin/phone).

import { api } from '../../lib/api.js';
import { html, render } from '../../lib/html.js';
import { errorText, fmtDateTime, t } from '../../lib/i18n.js';
import { dispositionCodes } from '../../lib/calls.js';
import { notify } from '../../lib/session.js';

class HlPhoneSettings extends HTMLElement {
  connectedCallback() {
    this.onLocale = () => this.draw();
    window.addEventListener('hl-locale', this.onLocale);
    this.load();
  }

  disconnectedCallback() {
    window.removeEventListener('hl-locale', this.onLocale);
  }

  async load() {
    try {
      const [blocked, rules, numbers, queues, codes] = await Promise.all([
        api.get('/api/voice/blocked-numbers'),
        api.get('/api/voice/caller-id-rules'),
        api.get('/api/voice/numbers'),
        api.get('/api/queues'),
        api.get('/api/call-dispositions?all=true'),
      ]);
      Object.assign(this, { blocked, rules, numbers, queues, codes });
      dispositionCodes(true);
      this.draw();
    } catch (e) {
      render(this, html`<h1>${t('phone.title')}</h1><p class="error" role="alert">${errorText(e)}</p>`);
    }
  }

  queueName(id) {
    const q = this.queues.find((q) => q.id === id);
    return q ? q.name : id ? `#${id}` : '—';
  }

  queueOptions(selected) {
    return this.queues.map((q) => html`<option value="${q.id}" ${q.id === selected ? 'selected' : ''}>${q.name}</option>`);
  }

  draw() {
    if (!this.queues) return;
    render(this, html`
      <h1>${t('phone.title')}</h1>
      <section aria-labelledby="blocked-h">
        <h2 id="blocked-h">${t('phone.blocked')}</h2>
        <p class="muted small">${t('phone.blocked_hint')}</p>
        <form class="filters" id="block-form">
          <label>${t('phone.number')}<input name="number" id="block-number" required placeholder="+86 138 0013 8000"></label>
          <label class="grow">${t('phone.reason')}<input name="reason" id="block-reason"></label>
          <button class="primary" type="submit">${t('phone.block')}</button>
        </form>
        ${this.blocked.length ? html`<table class="list" id="blocked-list"><thead><tr>
            <th>${t('phone.number')}</th><th>${t('phone.reason')}</th><th>${t('phone.since')}</th><th></th></tr></thead>
          <tbody>${this.blocked.map((b) => html`<tr data-number="${b.number}">
            <td>${b.number}</td><td>${b.reason}</td><td class="small nowrap">${fmtDateTime(b.created_at)}</td>
            <td><button type="button" class="danger" data-unblock="${b.id}">${t('phone.unblock')}</button></td></tr>`)}</tbody></table>`
          : html`<p class="empty">${t('phone.no_blocked')}</p>`}
      </section>
      <section aria-labelledby="rules-h">
        <h2 id="rules-h">${t('phone.caller_id')}</h2>
        <p class="muted small">${t('phone.caller_id_hint')}</p>
        <form class="filters" id="rule-form">
          <label>${t('phone.prefix')}<input name="prefix" id="rule-prefix" required placeholder="+86"></label>
          <label>${t('phone.shown_number')}<input name="caller_id" id="rule-caller-id" required></label>
          <label class="grow">${t('phone.note')}<input name="note"></label>
          <button class="primary" type="submit">${t('phone.add_rule')}</button>
        </form>
        ${this.rules.length ? html`<table class="list" id="rule-list"><thead><tr>
            <th>${t('phone.prefix')}</th><th>${t('phone.shown_number')}</th><th>${t('phone.note')}</th><th></th></tr></thead>
          <tbody>${this.rules.map((r) => html`<tr data-prefix="${r.prefix}">
            <td>${r.prefix}</td><td>${r.caller_id}</td><td>${r.note}</td>
            <td><button type="button" class="danger" data-remove-rule="${r.id}">${t('phone.remove')}</button></td></tr>`)}</tbody></table>`
          : html`<p class="empty">${t('phone.no_rules')}</p>`}
      </section>
      <section aria-labelledby="numbers-h">
        <h2 id="numbers-h">${t('phone.numbers')}</h2>
        <p class="muted small">${t('phone.numbers_hint')}</p>
        ${this.numbers.length ? html`<table class="list" id="number-list"><thead><tr>
            <th>${t('phone.number')}</th><th>${t('phone.language')}</th><th>${t('phone.greeting')}</th>
            <th>${t('phone.queue')}</th><th>${t('phone.menu')}</th><th></th></tr></thead>
          <tbody>${this.numbers.map((n) => html`<tr data-number="${n.number}">
            <td>${n.number}</td><td>${n.language}</td><td>${n.greeting}</td><td>${this.queueName(n.queue_id)}</td>
            <td class="small">${n.menu.map((c) => html`<div>${c.digit} → ${this.queueName(c.queue_id)} ${c.label ? `(${c.label})` : ''}</div>`)}</td>
            <td><button type="button" data-edit-number="${n.number}">${t('phone.edit')}</button></td></tr>`)}</tbody></table>`
          : html`<p class="empty">${t('phone.no_numbers')}</p>`}
        <form id="number-form" class="stack">
          <div class="filters">
            <label>${t('phone.number')}<input name="number" id="number-number" required></label>
            <label>${t('phone.language')}<input name="language" id="number-language" placeholder="zh-CN"></label>
            <label>${t('phone.queue')}<select name="queue_id" id="number-queue"><option value="">—</option>${this.queueOptions(null)}</select></label>
          </div>
          <label>${t('phone.greeting')}<textarea name="greeting" id="number-greeting" rows="2"></textarea></label>
          <fieldset>
            <legend>${t('phone.menu')}</legend>
            <div id="menu-rows"></div>
            <button type="button" id="menu-add">${t('phone.add_choice')}</button>
          </fieldset>
          <button class="primary" type="submit">${t('common.save')}</button>
        </form>
      </section>
      <section aria-labelledby="codes-h">
        <h2 id="codes-h">${t('calls.codes')}</h2>
        <p class="muted small">${t('calls.codes_hint')}</p>
        ${this.codes.length ? html`<table class="list" id="code-list"><thead><tr>
            <th>${t('calls.code')}</th><th>${t('calls.name_en')}</th><th>${t('calls.name_zh')}</th>
            <th>${t('calls.position')}</th><th>${t('calls.active')}</th><th></th></tr></thead>
          <tbody>${this.codes.map((d) => html`<tr data-code="${d.code}" class="${d.active ? '' : 'muted'}">
            <td><code>${d.code}</code></td>
            <td><input name="name_en" value="${d.name_en}" aria-label="${t('calls.name_en')}"></td>
            <td><input name="name_zh" value="${d.name_zh}" aria-label="${t('calls.name_zh')}"></td>
            <td><input name="position" type="number" min="0" max="10000" value="${d.position}" size="4" aria-label="${t('calls.position')}"></td>
            <td><input name="active" type="checkbox" ${d.active ? 'checked' : ''} aria-label="${t('calls.active')}"></td>
            <td><button type="button" data-save-code="${d.id}">${t('common.save')}</button></td></tr>`)}</tbody></table>`
          : html`<p class="empty">${t('calls.no_codes')}</p>`}
        <form class="filters" id="code-form">
          <label>${t('calls.code')}<input name="code" id="code-code" required placeholder="follow_up" pattern="[a-z0-9_]+"></label>
          <label class="grow">${t('calls.name_en')}<input name="name_en" id="code-name-en" required></label>
          <label class="grow">${t('calls.name_zh')}<input name="name_zh" id="code-name-zh" required></label>
          <button class="primary" type="submit">${t('calls.add_code')}</button>
        </form>
      </section>`);
    this.wire();
  }

  wire() {
    this.querySelector('#block-form').addEventListener('submit', (e) => {
      e.preventDefault();
      const f = e.target;
      this.change(() => api.post('/api/voice/blocked-numbers', { number: f.number.value, reason: f.reason.value }));
    });
    this.querySelector('#rule-form').addEventListener('submit', (e) => {
      e.preventDefault();
      const f = e.target;
      this.change(() => api.post('/api/voice/caller-id-rules', { prefix: f.prefix.value.trim(), caller_id: f.caller_id.value, note: f.note.value }));
    });
    for (const b of this.querySelectorAll('[data-unblock]')) {
      b.onclick = () => this.change(() => api.del(`/api/voice/blocked-numbers/${b.dataset.unblock}`));
    }
    for (const b of this.querySelectorAll('[data-remove-rule]')) {
      b.onclick = () => this.change(() => api.del(`/api/voice/caller-id-rules/${b.dataset.removeRule}`));
    }
    for (const b of this.querySelectorAll('[data-edit-number]')) {
      b.onclick = () => this.editNumber(this.numbers.find((n) => n.number === b.dataset.editNumber));
    }
    this.querySelector('#code-form').addEventListener('submit', (e) => {
      e.preventDefault();
      const f = e.target;
      this.change(() => api.post('/api/call-dispositions', { code: f.code.value.trim(), name_en: f.name_en.value, name_zh: f.name_zh.value }));
    });
    for (const b of this.querySelectorAll('[data-save-code]')) {
      b.onclick = () => {
        const row = b.closest('tr');
        const v = (n) => row.querySelector(`[name=${n}]`);
        this.change(() => api.patch(`/api/call-dispositions/${b.dataset.saveCode}`, {
          name_en: v('name_en').value,
          name_zh: v('name_zh').value,
          position: Number(v('position').value),
          active: v('active').checked,
        }));
      };
    }
    this.querySelector('#menu-add').onclick = () => this.addChoice({ digit: '', queue_id: null, label: '' });
    this.querySelector('#number-form').addEventListener('submit', (e) => {
      e.preventDefault();
      const f = e.target;
      const menu = [...this.querySelectorAll('#menu-rows .menu-choice')]
        .map((row) => ({
          digit: row.querySelector('[name=digit]').value.trim(),
          queue_id: Number(row.querySelector('[name=choice_queue]').value),
          label: row.querySelector('[name=label]').value,
        }))
        .filter((c) => c.digit || c.label);
      const body = {
        number: f.number.value,
        language: f.language.value.trim() || null,
        greeting: f.greeting.value,
        queue_id: f.queue_id.value ? Number(f.queue_id.value) : null,
        menu,
      };
      this.change(() => api.post('/api/voice/numbers', body));
    });
  }

  editNumber(n) {
    if (!n) return;
    this.querySelector('#number-number').value = n.number;
    this.querySelector('#number-language').value = n.language;
    this.querySelector('#number-greeting').value = n.greeting;
    this.querySelector('#number-queue').value = n.queue_id ?? '';
    render(this.querySelector('#menu-rows'), '');
    for (const c of n.menu) this.addChoice(c);
    this.querySelector('#number-number').focus();
  }

  addChoice(c) {
    const row = document.createElement('div');
    row.className = 'filters menu-choice';
    render(row, html`
      <label>${t('phone.digit')}<input name="digit" maxlength="1" size="2" value="${c.digit}"></label>
      <label>${t('phone.queue')}<select name="choice_queue">${this.queueOptions(c.queue_id)}</select></label>
      <label class="grow">${t('phone.label')}<input name="label" value="${c.label}"></label>
      <button type="button" class="danger">${t('phone.remove')}</button>`);
    row.querySelector('button').onclick = () => row.remove();
    this.querySelector('#menu-rows').append(row);
  }

  /** Runs one admin change; a refused one says why (from the error's code) and names the field. */
  async change(action) {
    try {
      await action();
      notify(t('common.saved'));
      await this.load();
    } catch (e) {
      notify(errorText(e), 'error');
    }
  }
}

customElements.define('hl-phone-settings', HlPhoneSettings);
