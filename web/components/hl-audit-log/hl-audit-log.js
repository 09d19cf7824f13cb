// <hl-audit-log> — the audit log for admins: who changed what and when, newest first, filtered
// by actor, action (exact, or a prefix ending in *), target and date range (days in the center's
// time zone), paged with "Older" (keyset on id), and exported as CSV with the same filters.
// Attributes (from the hash, e.g. #/admin/audit?target=user:5): data-actor-id, data-action, data-target.
// Usage: <hl-audit-log></hl-audit-log> (the console shows it at #/admin/audit).

import { api, query } from '../../lib/api.js';
import { html, render } from '../../lib/html.js';
import { errorText, fmtDateTime, t, tOr, zonedToMs } from '../../lib/i18n.js';

const PAGE = 50;
const KNOWN_ACTIONS = [
  'user.create', 'user.update', 'user.role_change', 'user.handover', 'user.queues', 'user.capacity',
  'token.create', 'token.revoke', 'queue.create', 'queue.update', 'queue.members', 'queue.routing',
  'queue.hours', 'queue.sla', 'rule.create', 'rule.update', 'rule.delete', 'rule.move',
  'ack_template.set', 'ack_template.delete', 'voice.block', 'voice.unblock', 'voice.number',
  'voice.caller_id_rule', 'voice.caller_id_rule_delete',
];

/** "2026-12-03" as the instant its day starts (or, with `end`, ends) in the center's zone, RFC 3339. */
function dayBound(day, end) {
  const m = /^(\d{4})-(\d{2})-(\d{2})$/.exec(day || '');
  if (!m) return '';
  const ms = zonedToMs(+m[1], +m[2], +m[3]) + (end ? 86_400_000 - 1 : 0);
  return new Date(ms).toISOString();
}

class HlAuditLog extends HTMLElement {
  connectedCallback() {
    this.filters = {
      actor_id: this.dataset.actorId || '',
      action: this.dataset.action || '',
      target: this.dataset.target || '',
      from: '',
      to: '',
    };
    this.onLocale = () => this.draw();
    window.addEventListener('hl-locale', this.onLocale);
    this.start();
  }

  disconnectedCallback() {
    window.removeEventListener('hl-locale', this.onLocale);
  }

  async start() {
    try {
      const users = await api.get('/api/users');
      this.users = Array.isArray(users) ? users : users.items || [];
      this.draw();
      await this.load(false);
    } catch (e) {
      render(this, html`<h1>${t('audit.title')}</h1><p class="error" role="alert">${errorText(e)}</p>`);
    }
  }

  /** The filters as the API takes them. */
  params() {
    const f = this.filters;
    return { actor_id: f.actor_id, action: f.action.trim(), target: f.target.trim(), from: dayBound(f.from, false), to: dayBound(f.to, true) };
  }

  /** Kept also here, so the list is right on a server that ignores a filter. */
  keep(e) {
    const p = this.params();
    const like = (value, want) => !want || (want.endsWith('*') ? value.startsWith(want.slice(0, -1)) : value === want);
    if (p.actor_id && e.actor_id !== Number(p.actor_id)) return false;
    if (!like(e.action, p.action) || !like(e.target, p.target)) return false;
    if (p.from && e.at_ms < Date.parse(p.from)) return false;
    if (p.to && e.at_ms > Date.parse(p.to)) return false;
    return true;
  }

  async load(more) {
    const list = this.querySelector('#audit-rows');
    try {
      const before = more && this.entries.length ? this.entries[this.entries.length - 1].id : undefined;
      const page = await api.get(`/api/audit${query({ ...this.params(), before_id: before, limit: PAGE })}`);
      this.entries = more ? [...this.entries, ...page] : page;
      this.more = page.length === PAGE;
      this.drawRows();
    } catch (e) {
      if (list) render(list, html`<p class="error" role="alert">${errorText(e)}</p>`);
    }
  }

  actorName(e) {
    if (e.actor_id === null || e.actor_id === undefined) return t('audit.system');
    const u = this.users.find((x) => x.id === e.actor_id);
    return e.actor_login || (u ? u.login : `#${e.actor_id}`);
  }

  draw() {
    if (!this.users) return;
    const f = this.filters;
    render(this, html`
      <div class="admin-head">
        <h1>${t('audit.title')}</h1>
        <a class="button" id="audit-csv" href="/api/audit.csv" download>${t('audit.export')}</a>
      </div>
      <form class="filters" id="audit-filters" role="search">
        <label>${t('audit.actor')}<select name="actor_id" id="audit-actor"><option value="">${t('audit.anyone')}</option>
          ${this.users.map((u) => html`<option value="${u.id}" ${String(u.id) === f.actor_id ? 'selected' : ''}>${u.display_name} (${u.login})</option>`)}</select></label>
        <label>${t('audit.action')}<input name="action" id="audit-action" list="audit-actions" value="${f.action}" placeholder="user.*"></label>
        <datalist id="audit-actions">${KNOWN_ACTIONS.map((a) => html`<option value="${a}">`)}</datalist>
        <label>${t('audit.target')}<input name="target" id="audit-target" value="${f.target}" placeholder="user:5"></label>
        <label>${t('audit.from')}<input type="date" name="from" id="audit-from" value="${f.from}"></label>
        <label>${t('audit.to')}<input type="date" name="to" id="audit-to" value="${f.to}"></label>
        <button type="submit" class="primary" id="audit-apply">${t('audit.apply')}</button>
        <button type="button" id="audit-clear">${t('audit.clear')}</button>
      </form>
      <div id="audit-rows"><p class="muted">${t('common.loading')}</p></div>`);
    const form = this.querySelector('#audit-filters');
    form.addEventListener('submit', (e) => {
      e.preventDefault();
      this.filters = Object.fromEntries(new FormData(form));
      this.syncCsv();
      this.load(false);
    });
    this.querySelector('#audit-clear').onclick = () => {
      this.filters = { actor_id: '', action: '', target: '', from: '', to: '' };
      this.draw();
      this.load(false);
    };
    this.syncCsv();
    if (this.entries) this.drawRows();
  }

  syncCsv() {
    const a = this.querySelector('#audit-csv');
    if (a) a.href = `/api/audit.csv${query(this.params())}`;
  }

  drawRows() {
    const box = this.querySelector('#audit-rows');
    if (!box) return;
    const rows = this.entries.filter((e) => this.keep(e));
    render(box, html`${rows.length ? html`<table class="list" id="audit-list"><thead><tr>
        <th>${t('audit.when')}</th><th>${t('audit.actor')}</th><th>${t('audit.action')}</th><th>${t('audit.target')}</th><th>${t('audit.details')}</th></tr></thead>
      <tbody>${rows.map((e) => html`<tr data-audit-id="${e.id}" data-action="${e.action}">
        <td class="nowrap small">${fmtDateTime(e.at_ms)}</td><td class="nowrap">${this.actorName(e)}</td>
        <td class="nowrap"><span title="${e.action}">${tOr('audit.action.' + e.action, e.action)}</span></td>
        <td class="nowrap"><a href="#/admin/audit?target=${encodeURIComponent(e.target)}" data-target-link="${e.target}">${e.target}</a></td>
        <td class="small details">${JSON.stringify(e.detail ?? {})}</td></tr>`)}</tbody></table>`
      : html`<p class="empty" id="audit-empty">${t('audit.empty')}</p>`}
      ${this.more ? html`<button type="button" id="audit-older">${t('audit.older')}</button>` : ''}`);
    const older = box.querySelector('#audit-older');
    if (older) older.onclick = () => this.load(true);
    for (const a of box.querySelectorAll('[data-target-link]')) {
      a.onclick = (ev) => {
        ev.preventDefault();
        this.filters = { ...this.filters, target: a.dataset.targetLink };
        this.draw();
        this.load(false);
      };
    }
  }
}

customElements.define('hl-audit-log', HlAuditLog);
