// <hl-complaints> — the complaint register for supervisors: filters (category, severity,
// status, late only, queue, customer tier, created between), counts by category and severity
// as bars, the complaints newest first (each opens its ticket with the full timeline), and the
// CSV export of the same selection (GET /api/complaints, /api/complaints/export.csv).
// Admins also get the lists behind it: categories (add, rename, deactivate), severities (names
// and due times) and the reminder settings. Usage: <hl-complaints></hl-complaints> (#/complaints).

import { api, query } from '../../lib/api.js';
import { html, render } from '../../lib/html.js';
import { enumText, errorText, fmtDateTime, fromLocalInput, t, toLocalInput } from '../../lib/i18n.js';
import { notify, session } from '../../lib/session.js';
import { complaintLists, forgetComplaintLists, localName } from '../hl-complaint-panel/hl-complaint-panel.js';

const STATUSES = ['received', 'acknowledged', 'investigating', 'responded', 'confirmed', 'closed'];
const TIERS = ['vip', 'key', 'regular', 'low'];
const PAGE = 100;

class HlComplaints extends HTMLElement {
  connectedCallback() {
    this.f = { overdue: false };
    this.offset = 0;
    this.onLocale = () => this.draw();
    this.onEvent = (e) => {
      if (e.detail.kind && e.detail.kind.startsWith('complaint.')) this.soon();
    };
    window.addEventListener('hl-locale', this.onLocale);
    window.addEventListener('hl-event', this.onEvent);
    this.load();
  }

  disconnectedCallback() {
    window.removeEventListener('hl-locale', this.onLocale);
    window.removeEventListener('hl-event', this.onEvent);
  }

  soon() {
    clearTimeout(this.debounce);
    this.debounce = setTimeout(() => this.load(), 500);
  }

  params() {
    const f = this.f;
    return {
      category_id: f.category_id || undefined,
      severity: f.severity || undefined,
      status: f.status || undefined,
      overdue: f.overdue ? 'true' : undefined,
      queue_id: f.queue_id || undefined,
      tier: f.tier || undefined,
      from: f.from ? new Date(f.from).toISOString() : undefined,
      to: f.to ? new Date(f.to).toISOString() : undefined,
    };
  }

  async load() {
    try {
      const [reg, lists] = await Promise.all([
        api.get(`/api/complaints${query({ ...this.params(), limit: PAGE, offset: this.offset })}`),
        complaintLists(),
      ]);
      this.reg = reg;
      this.lists = lists;
      if (session.admin) this.settings = await api.get('/api/complaint-settings');
      this.error = null;
    } catch (e) {
      this.error = errorText(e);
    }
    this.draw();
  }

  draw() {
    const r = this.reg;
    const f = this.f;
    const lists = this.lists || { categories: [], severities: [] };
    const max = (xs) => Math.max(1, ...xs.map((x) => x.count));
    render(this, html`
      <h1>${t('complaints.title')}</h1>
      <form class="filters" id="complaint-filters" aria-label="${t('complaints.filters')}">
        <label>${t('complaint.category')}<select name="category_id"><option value="">${t('complaints.any')}</option>
          ${lists.categories.map((k) => html`<option value="${k.id}" ${String(k.id) === String(f.category_id || '') ? 'selected' : ''}>${localName(k)}</option>`)}</select></label>
        <label>${t('complaint.severity')}<select name="severity"><option value="">${t('complaints.any')}</option>
          ${lists.severities.map((s) => html`<option value="${s.level}" ${String(s.level) === String(f.severity || '') ? 'selected' : ''}>${s.level} · ${localName(s)}</option>`)}</select></label>
        <label>${t('complaint.status_label')}<select name="status"><option value="">${t('complaints.any')}</option>
          ${STATUSES.map((s) => html`<option value="${s}" ${f.status === s ? 'selected' : ''}>${enumText('complaint.status', s)}</option>`)}</select></label>
        <label>${t('ticket.queue')}<select name="queue_id"><option value="">${t('complaints.any')}</option>
          ${session.queues.map((q) => html`<option value="${q.id}" ${String(q.id) === String(f.queue_id || '') ? 'selected' : ''}>${q.name}</option>`)}</select></label>
        <label>${t('complaints.tier')}<select name="tier"><option value="">${t('complaints.any')}</option>
          ${TIERS.map((x) => html`<option value="${x}" ${f.tier === x ? 'selected' : ''}>${t('tier.' + x)}</option>`)}</select></label>
        <label>${t('complaints.from')}<input type="datetime-local" name="from" value="${f.from ? toLocalInput(f.from) : ''}"></label>
        <label>${t('complaints.to')}<input type="datetime-local" name="to" value="${f.to ? toLocalInput(f.to) : ''}"></label>
        <label class="check"><input type="checkbox" name="overdue" id="complaints-overdue" ${f.overdue ? 'checked' : ''}> ${t('complaints.overdue_only')}</label>
        <a class="button" id="complaints-csv" href="/api/complaints/export.csv${query(this.params())}" download>${t('complaints.export')}</a>
      </form>
      ${this.error ? html`<p class="error" role="alert">${this.error}</p>` : ''}
      ${r ? html`
        <p id="complaints-total">${t('complaints.total', { n: r.total })}</p>
        <div class="row complaint-counts">
          <section class="panel grow" aria-labelledby="by-category-h"><h2 id="by-category-h">${t('complaints.by_category')}</h2>
            <table class="bars" id="by-category">${r.by_category.map((x) => html`<tr data-category="${x.code}">
              <th>${localName(x)}</th><td><span class="bar" style="width:${Math.round((100 * x.count) / max(r.by_category))}%"></span></td><td class="num">${x.count}</td></tr>`)}</table></section>
          <section class="panel grow" aria-labelledby="by-severity-h"><h2 id="by-severity-h">${t('complaints.by_severity')}</h2>
            <table class="bars" id="by-severity">${r.by_severity.map((x) => html`<tr data-severity="${x.severity}">
              <th>${x.severity} · ${localName(lists.severities.find((s) => s.level === x.severity))}</th><td><span class="bar sev-${x.severity}" style="width:${Math.round((100 * x.count) / max(r.by_severity))}%"></span></td><td class="num">${x.count}</td></tr>`)}</table></section>
        </div>
        ${r.items.length ? html`<table class="list" id="complaint-rows"><thead><tr>
            <th>#</th><th>${t('complaints.created')}</th><th>${t('ticket.subject')}</th><th>${t('ticket.customer')}</th>
            <th>${t('complaint.category')}</th><th>${t('complaint.severity')}</th><th>${t('complaint.status_label')}</th>
            <th>${t('ticket.assignee')}</th><th>${t('ticket.queue')}</th></tr></thead>
          <tbody>${r.items.map((c) => html`<tr data-ticket="${c.ticket_id}" class="${c.overdue ? 'late' : ''}">
            <td><a href="#/ticket/${c.ticket_id}">${c.ticket_id}</a></td>
            <td>${fmtDateTime(c.created_at)}</td>
            <td><a href="#/ticket/${c.ticket_id}">${c.subject}</a></td>
            <td>${c.customer_id ? html`<a href="#/customer/${c.customer_id}">${c.customer_name}</a> ${c.tier ? html`<span class="badge ${c.tier}">${t('tier.' + c.tier)}</span>` : ''}` : html`<span class="muted">—</span>`}</td>
            <td>${localName(lists.categories.find((k) => k.id === c.category_id)) || c.category_code}</td>
            <td><span class="badge sev-${c.severity}">${c.severity}</span></td>
            <td>${enumText('complaint.status', c.status)}${c.overdue ? html` <span class="badge breached">${t('complaint.overdue', { step: enumText('complaint.step', c.overdue) })}</span>` : ''}</td>
            <td>${c.assignee_name || html`<span class="muted">—</span>`}</td>
            <td>${c.queue_name || ''}</td></tr>`)}</tbody></table>
          <div class="row">
            ${this.offset > 0 ? html`<button type="button" id="complaints-prev">${t('complaints.prev')}</button>` : ''}
            ${this.offset + PAGE < r.total ? html`<button type="button" id="complaints-next">${t('complaints.next')}</button>` : ''}
          </div>`
          : html`<p class="empty">${t('complaints.empty')}</p>`}` : html`<p class="muted">${t('common.loading')}</p>`}
      ${session.admin ? this.adminLists(lists) : ''}`);
    this.wire();
  }

  /** Admins: the categories, severities and reminder settings. */
  adminLists(lists) {
    const s = this.settings;
    return html`<details class="panel" id="complaint-admin" ${this.adminOpen ? 'open' : ''}><summary><strong>${t('complaints.admin')}</strong></summary>
      <h2>${t('complaints.categories')}</h2>
      <table class="list" id="category-rows"><thead><tr><th>${t('complaints.code')}</th><th>中文</th><th>English</th><th>${t('complaints.active')}</th></tr></thead>
        <tbody>${lists.categories.map((k) => html`<tr data-category-id="${k.id}">
          <td><code>${k.code}</code></td>
          <td><input data-field="name_zh" value="${k.name_zh}" aria-label="中文"></td>
          <td><input data-field="name_en" value="${k.name_en}" aria-label="English"></td>
          <td><input type="checkbox" data-field="active" ${k.active ? 'checked' : ''} aria-label="${t('complaints.active')}"></td></tr>`)}</tbody></table>
      <form class="row" id="category-new" aria-label="${t('complaints.add_category')}">
        <label>${t('complaints.code')}<input name="code" required pattern="[a-z0-9_]+" maxlength="40"></label>
        <label>中文<input name="name_zh" required maxlength="80"></label>
        <label>English<input name="name_en" required maxlength="80"></label>
        <button type="submit">${t('complaints.add_category')}</button>
      </form>
      <h2>${t('complaints.severities')}</h2>
      <table class="list" id="severity-rows"><thead><tr><th></th><th>中文</th><th>English</th>
        <th>${t('complaint.due.ack')}</th><th>${t('complaint.due.respond')}</th><th>${t('complaint.due.close')}</th><th>${t('complaints.callback_hours')}</th></tr></thead>
        <tbody>${lists.severities.map((v) => html`<tr data-level="${v.level}">
          <td>${v.level}</td>
          <td><input data-field="name_zh" value="${v.name_zh}" aria-label="中文"></td>
          <td><input data-field="name_en" value="${v.name_en}" aria-label="English"></td>
          ${['ack_secs', 'respond_secs', 'close_secs', 'callback_secs'].map((k) => html`<td><input type="number" min="0.02" step="0.25" data-field="${k}" value="${v[k] / 3600}" aria-label="${t('complaints.hours')}"> ${t('complaints.hours')}</td>`)}</tr>`)}</tbody></table>
      ${s ? html`<h2>${t('complaints.reminders')}</h2>
      <form class="row" id="complaint-settings">
        <label>${t('complaints.remind_before')}<input name="before" value="${s.remind_before_minutes.join(', ')}"></label>
        <label>${t('complaints.remind_after')}<input name="after" value="${s.remind_after_minutes.join(', ')}"></label>
        <label>${t('complaints.max_attempts')}<input type="number" min="1" max="10" name="attempts" value="${s.callback_max_attempts}"></label>
        <label>${t('complaints.retry_minutes')}<input type="number" min="5" max="10080" name="retry" value="${s.callback_retry_minutes}"></label>
        <button type="submit">${t('common.save')}</button>
      </form>` : ''}
    </details>`;
  }

  wire() {
    this.querySelector('#complaint-admin')?.addEventListener('toggle', (e) => {
      this.adminOpen = e.target.open;
    });
    const form = this.querySelector('#complaint-filters');
    form.addEventListener('change', () => {
      const v = (n) => form[n].value;
      this.f = {
        category_id: v('category_id'),
        severity: v('severity'),
        status: v('status'),
        queue_id: v('queue_id'),
        tier: v('tier'),
        from: fromLocalInput(v('from')),
        to: fromLocalInput(v('to')),
        overdue: form.overdue.checked,
      };
      this.offset = 0;
      this.load();
    });
    this.querySelector('#complaints-prev')?.addEventListener('click', () => {
      this.offset = Math.max(0, this.offset - PAGE);
      this.load();
    });
    this.querySelector('#complaints-next')?.addEventListener('click', () => {
      this.offset += PAGE;
      this.load();
    });
    for (const row of this.querySelectorAll('#category-rows tr[data-category-id]')) {
      row.addEventListener('change', (e) => {
        const field = e.target.dataset.field;
        const value = field === 'active' ? e.target.checked : e.target.value;
        this.adminSave(() => api.patch(`/api/complaint-categories/${row.dataset.categoryId}`, { [field]: value }));
      });
    }
    this.querySelector('#category-new')?.addEventListener('submit', (e) => {
      e.preventDefault();
      const f = e.target;
      this.adminSave(() => api.post('/api/complaint-categories', { code: f.code.value.trim(), name_zh: f.name_zh.value, name_en: f.name_en.value }));
    });
    for (const row of this.querySelectorAll('#severity-rows tr[data-level]')) {
      row.addEventListener('change', () => {
        const get = (k) => row.querySelector(`[data-field="${k}"]`).value;
        const level = Number(row.dataset.level);
        const old = this.lists.severities.find((s) => s.level === level);
        const body = { ...old, name_zh: get('name_zh'), name_en: get('name_en') };
        for (const k of ['ack_secs', 'respond_secs', 'close_secs', 'callback_secs']) body[k] = Math.round(Number(get(k)) * 3600);
        this.adminSave(() => api.put(`/api/complaint-severities/${level}`, body));
      });
    }
    this.querySelector('#complaint-settings')?.addEventListener('submit', (e) => {
      e.preventDefault();
      const f = e.target;
      const list = (s) => s.split(/[,，\s]+/).filter(Boolean).map(Number);
      this.adminSave(() => api.put('/api/complaint-settings', {
        remind_before_minutes: list(f.before.value),
        remind_after_minutes: list(f.after.value),
        callback_max_attempts: Number(f.attempts.value),
        callback_retry_minutes: Number(f.retry.value),
      }));
    });
  }

  async adminSave(call) {
    try {
      await call();
      notify(t('complaints.saved'));
      forgetComplaintLists();
    } catch (e) {
      notify(errorText(e), 'error');
    }
    this.load();
  }
}

customElements.define('hl-complaints', HlComplaints);
