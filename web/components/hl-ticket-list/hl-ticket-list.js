// <hl-ticket-list view="mine|unassigned|all|queue:ID"> — tickets with filters (status, kind),
// sorting, unread markers (changed since I last opened them); refreshes on live events. Saved
// views (/api/views) bring back a scope, filters and the columns shown.
// Usage: <hl-ticket-list view="queue:3"></hl-ticket-list>

import { api, query } from '../../lib/api.js';
import { html, render } from '../../lib/html.js';
import { errorText, fmtDateTime, subjectText, t } from '../../lib/i18n.js';
import { channelIcon } from '../../lib/icons.js';
import { loadCustomerNames, notify, session } from '../../lib/session.js';
import { slaBadge } from '../../lib/sla.js';

const STATUSES = ['new', 'open', 'pending', 'resolved', 'closed'];
const KINDS = ['inquiry', 'complaint', 'request', 'incident', 'callback'];
const SEEN_KEY = 'hotline.seen';
const FILTERS_KEY = 'hotline.list_filters';
const COLUMNS = ['number', 'subject', 'customer', 'channel', 'status', 'priority', 'queue', 'assignee', 'sla', 'updated'];

export function markSeen(ticket) {
  const seen = JSON.parse(localStorage.getItem(SEEN_KEY) || '{}');
  seen[ticket.id] = ticket.updated_at;
  const ids = Object.keys(seen);
  if (ids.length > 2000) for (const id of ids.slice(0, ids.length - 2000)) delete seen[id];
  localStorage.setItem(SEEN_KEY, JSON.stringify(seen));
}

class HlTicketList extends HTMLElement {
  connectedCallback() {
    this.filters = JSON.parse(sessionStorage.getItem(FILTERS_KEY) || '{"status":"","kind":"","sort":"updated"}');
    this.views = [];
    this.tickets = [];
    this.selected = new Set();
    this.load();
    this.onEvent = (e) => {
      const k = e.detail.kind;
      if (k.startsWith('ticket.') || k === 'interaction.created') this.soon();
    };
    this.onReload = () => this.load();
    this.onLocale = () => this.draw();
    window.addEventListener('hl-event', this.onEvent);
    window.addEventListener('hl-reload', this.onReload);
    window.addEventListener('hl-locale', this.onLocale);
  }

  disconnectedCallback() {
    window.removeEventListener('hl-event', this.onEvent);
    window.removeEventListener('hl-reload', this.onReload);
    window.removeEventListener('hl-locale', this.onLocale);
  }

  soon() {
    clearTimeout(this.debounce);
    this.debounce = setTimeout(() => this.load(), 300);
  }

  get view() {
    return this.getAttribute('view') || 'mine';
  }

  title() {
    const v = this.view;
    if (v.startsWith('queue:')) return t('list.queue', { name: session.queueName(Number(v.slice(6))) });
    return t('list.' + v);
  }

  async load() {
    const v = this.view;
    const f = this.filters;
    const params = { status: f.status, kind: f.kind, open: f.status ? '' : 'true', limit: 200 };
    if (v === 'mine') params.assignee_id = session.user.id;
    if (v.startsWith('queue:')) params.queue_id = v.slice(6);
    if (f.sort === 'sla') params.sort = 'sla';
    try {
      // Views change only when this console saves or deletes one (then `views` is reset).
      if (!this.viewsLoaded) {
        this.views = await api.get('/api/views').catch(() => []);
        this.viewsLoaded = true;
      }
      let list = await api.get('/api/tickets' + query(params));
      if (v === 'unassigned') list = list.filter((x) => x.assignee_id == null);
      this.tickets = list;
      this.error = null;
      await loadCustomerNames(list.map((x) => x.customer_id));
    } catch (e) {
      this.error = errorText(e);
    }
    this.draw();
  }

  sorted() {
    const list = [...this.tickets];
    const by = this.filters.sort;
    const prio = { urgent: 3, high: 2, normal: 1, low: 0 };
    if (by === 'priority') list.sort((a, b) => prio[b.priority] - prio[a.priority] || a.created_at - b.created_at);
    else if (by === 'oldest') list.sort((a, b) => a.created_at - b.created_at);
    else if (by === 'sla') return list; // the server's order
    else list.sort((a, b) => b.updated_at - a.updated_at);
    return list;
  }

  /** Whether the list shows column `name` (a view may choose; none chosen: all). */
  shows(name) {
    const cols = this.filters.columns || [];
    return cols.length === 0 || cols.includes(name);
  }

  /** Applies saved view `v`: its filters and columns, and its scope when it names one. */
  applyView(v) {
    this.filters = { status: v.filters.status, kind: v.filters.kind, sort: v.filters.sort || 'updated', columns: v.columns, view_id: v.id };
    sessionStorage.setItem(FILTERS_KEY, JSON.stringify(this.filters));
    const scope = v.filters.scope;
    if (scope && scope !== this.view) location.hash = `#/tickets?view=${scope}`;
    else this.load();
  }

  viewsBar() {
    const f = this.filters;
    const current = this.views.find((v) => v.id === f.view_id);
    return html`<form class="filters" id="views-bar" aria-label="${t('views.label')}">
      <label>${t('views.label')}<select name="view" id="view-pick"><option value="">${t('views.none')}</option>
        ${this.views.map((v) => html`<option value="${v.id}" ${v.id === f.view_id ? 'selected' : ''}>${v.name}${v.shared ? ` · ${t('views.shared')}` : ''}</option>`)}</select></label>
      <button type="button" id="view-save-open" aria-expanded="${this.saving ? 'true' : 'false'}">${t('views.save')}</button>
      ${current && current.owner_id === session.user.id ? html`<button type="button" id="view-delete">${t('views.delete')}</button>` : ''}
    </form>
    ${this.saving ? html`<form class="filters" id="view-form" aria-label="${t('views.save')}">
      <label>${t('views.name')}<input name="name" id="view-name" required maxlength="100" value="${current && current.owner_id === session.user.id ? current.name : ''}"></label>
      <fieldset class="row"><legend>${t('views.columns')}</legend>
        ${COLUMNS.map((c) => html`<label class="check"><input type="checkbox" name="col" value="${c}" ${this.shows(c) ? 'checked' : ''}> ${t('views.col.' + c)}</label>`)}</fieldset>
      ${session.supervisor ? html`<label class="check"><input type="checkbox" name="shared" id="view-shared" ${current && current.shared ? 'checked' : ''}> ${t('views.share')}</label>` : ''}
      <button class="primary" type="submit" id="view-save">${t('views.save_button')}</button>
      <button type="button" id="view-cancel">${t('common.cancel')}</button>
    </form>` : ''}`;
  }

  bindViews() {
    this.querySelector('#view-pick').addEventListener('change', (e) => {
      const v = this.views.find((x) => x.id === Number(e.target.value));
      if (v) this.applyView(v);
      else {
        this.filters = { status: '', kind: '', sort: 'updated' };
        sessionStorage.setItem(FILTERS_KEY, JSON.stringify(this.filters));
        this.load();
      }
    });
    this.querySelector('#view-save-open').addEventListener('click', () => {
      this.saving = !this.saving;
      this.draw();
    });
    this.querySelector('#view-delete')?.addEventListener('click', async () => {
      try {
        await api.del(`/api/views/${this.filters.view_id}`);
        delete this.filters.view_id;
        this.viewsLoaded = false;
        sessionStorage.setItem(FILTERS_KEY, JSON.stringify(this.filters));
        notify(t('views.deleted'));
        this.load();
      } catch (err) {
        notify(errorText(err), 'error');
      }
    });
    const form = this.querySelector('#view-form');
    if (!form) return;
    form.querySelector('#view-cancel').addEventListener('click', () => {
      this.saving = false;
      this.draw();
    });
    form.addEventListener('submit', async (e) => {
      e.preventDefault();
      const f = this.filters;
      const cols = [...form.querySelectorAll('input[name=col]:checked')].map((x) => x.value);
      const body = {
        name: form.name.value.trim(),
        filters: { scope: this.view, status: f.status || '', kind: f.kind || '', sort: f.sort || 'updated' },
        columns: cols.length === COLUMNS.length ? [] : cols,
      };
      if (session.supervisor) body.shared = form.querySelector('#view-shared').checked;
      const own = this.views.find((v) => v.id === f.view_id && v.owner_id === session.user.id && v.name === body.name);
      try {
        const v = own ? await api.patch(`/api/views/${own.id}`, body) : await api.post('/api/views', body);
        this.saving = false;
        this.viewsLoaded = false;
        notify(t('views.saved', { name: v.name }));
        this.applyView(v);
      } catch (err) {
        notify(errorText(err), 'error');
      }
    });
  }

  async draw() {
    const seen = JSON.parse(localStorage.getItem(SEEN_KEY) || '{}');
    const names = await loadCustomerNames([]);
    const f = this.filters;
    const list = this.sorted();
    render(this, html`
      <div class="row"><h1 class="grow">${this.title()} <span class="muted">(${list.length})</span></h1></div>
      ${this.viewsBar()}
      <form class="filters" id="filters">
        <label>${t('list.status')}<select name="status"><option value="">${t('list.open_any')}</option>
          ${STATUSES.map((s) => html`<option value="${s}" ${f.status === s ? 'selected' : ''}>${t('status.' + s)}</option>`)}</select></label>
        <label>${t('list.kind')}<select name="kind"><option value="">${t('list.any')}</option>
          ${KINDS.map((s) => html`<option value="${s}" ${f.kind === s ? 'selected' : ''}>${t('kind.' + s)}</option>`)}</select></label>
        <label>${t('list.sort')}<select name="sort">
          ${['updated', 'priority', 'oldest', 'sla'].map((s) => html`<option value="${s}" ${f.sort === s ? 'selected' : ''}>${t('sort.' + s)}</option>`)}</select></label>
      </form>
      ${this.error ? html`<p class="error" role="alert">${this.error}</p>` : ''}
      <form class="filters bulk-bar" id="bulk-bar" aria-label="${t('bulk.label')}" ${this.selected.size ? '' : 'hidden'}>
        <strong id="bulk-count">${t('bulk.selected', { n: this.selected.size })}</strong>
        <label>${t('bulk.assign_to')}<select name="assign_to" id="bulk-assign"><option value="">—</option>
          ${session.users.filter((u) => u.active !== false && (session.supervisor || u.id === session.user.id))
            .map((u) => html`<option value="${u.id}">${u.display_name || u.login}</option>`)}</select></label>
        <label>${t('bulk.status')}<select name="status" id="bulk-status"><option value="">—</option>
          ${STATUSES.map((s) => html`<option value="${s}">${t('status.' + s)}</option>`)}</select></label>
        <label>${t('bulk.add_tag')}<input name="tag" id="bulk-tag"></label>
        <label>${t('bulk.merge_into')}<input name="merge_into" id="bulk-merge" inputmode="numeric" pattern="[0-9]*" size="6" placeholder="#"></label>
        <button class="primary" type="submit" id="bulk-apply">${t('bulk.apply')}</button>
        <button type="button" id="bulk-clear">${t('bulk.clear')}</button>
      </form>
      ${list.length === 0 ? html`<p class="empty">${t('list.empty')}</p>` : html`
      <table class="list" id="ticket-table">
        <thead><tr><th><input type="checkbox" id="select-all" aria-label="${t('bulk.select_all')}"
          ${list.length && list.every((x) => this.selected.has(x.id)) ? 'checked' : ''}></th>${this.shows('number') ? html`<th>#</th>` : ''}${this.shows('subject') ? html`<th>${t('ticket.subject')}</th>` : ''}${this.shows('customer') ? html`<th>${t('ticket.customer')}</th>` : ''}${this.shows('channel') ? html`<th>${t('ticket.channel')}</th>` : ''}
          ${this.shows('status') ? html`<th>${t('ticket.status')}</th>` : ''}${this.shows('priority') ? html`<th>${t('ticket.priority')}</th>` : ''}${this.shows('queue') ? html`<th>${t('ticket.queue')}</th>` : ''}${this.shows('assignee') ? html`<th>${t('ticket.assignee')}</th>` : ''}${this.shows('sla') ? html`<th>${t('sla.column')}</th>` : ''}${this.shows('updated') ? html`<th>${t('ticket.updated')}</th>` : ''}</tr></thead>
        <tbody>${list.map((x) => {
          const unread = seen[x.id] === undefined ? x.assignee_id === session.user.id || x.status === 'new' : seen[x.id] < x.updated_at;
          const c = names.get(x.customer_id);
          return html`<tr class="${unread ? 'unread' : ''}" data-id="${x.id}">
            <td><input type="checkbox" class="pick" value="${x.id}" aria-label="${t('bulk.select', { n: x.id })}" ${this.selected.has(x.id) ? 'checked' : ''}></td>
            ${this.shows('number') ? html`<td class="nowrap">${x.id}</td>` : ''}
            ${this.shows('subject') ? html`<td class="subject"><a href="#/ticket/${x.id}">${subjectText(x)}</a>${unread ? html`<span class="sr-only"> ${t('list.unread')}</span>` : ''}
              ${x.kind === 'complaint' || x.kind === 'callback' ? html` <span class="badge ${x.kind}">${t('kind.' + x.kind)}</span>` : ''}</td>` : ''}
            ${this.shows('customer') ? html`<td class="name">${c ? c.name : ''} ${c && c.tier === 'vip' ? html`<span class="badge vip">${t('tier.vip')}</span>` : ''}</td>` : ''}
            ${this.shows('channel') ? html`<td class="nowrap">${channelIcon(x.channel)} ${t('channel.' + x.channel)}</td>` : ''}
            ${this.shows('status') ? html`<td class="nowrap"><span class="badge ${x.status}">${t('status.' + x.status)}</span></td>` : ''}
            ${this.shows('priority') ? html`<td class="nowrap"><span class="badge ${x.priority}">${t('priority.' + x.priority)}</span></td>` : ''}
            ${this.shows('queue') ? html`<td class="nowrap">${session.queueName(x.queue_id)}</td>` : ''}
            ${this.shows('assignee') ? html`<td class="nowrap">${session.userName(x.assignee_id)}</td>` : ''}
            ${this.shows('sla') ? html`<td class="nowrap">${slaBadge(x.sla)}</td>` : ''}
            ${this.shows('updated') ? html`<td class="small nowrap">${fmtDateTime(x.updated_at)}</td>` : ''}</tr>`;
        })}</tbody>
      </table>`}`);
    this.bindViews();
    this.querySelector('#filters').addEventListener('change', (e) => {
      this.filters[e.target.name] = e.target.value;
      sessionStorage.setItem(FILTERS_KEY, JSON.stringify(this.filters));
      this.load();
    });
    for (const tr of this.querySelectorAll('tbody tr')) {
      tr.addEventListener('click', (e) => {
        if (!e.target.closest('a') && !e.target.closest('input')) location.hash = `#/ticket/${tr.dataset.id}`;
      });
    }
    const bar = this.querySelector('#bulk-bar');
    const showBar = () => {
      bar.hidden = this.selected.size === 0;
      this.querySelector('#bulk-count').textContent = t('bulk.selected', { n: this.selected.size });
    };
    for (const box of this.querySelectorAll('input.pick')) {
      box.addEventListener('change', () => {
        if (box.checked) this.selected.add(Number(box.value));
        else this.selected.delete(Number(box.value));
        showBar();
      });
    }
    const all = this.querySelector('#select-all');
    if (all) {
      all.addEventListener('change', () => {
        for (const box of this.querySelectorAll('input.pick')) {
          box.checked = all.checked;
          if (all.checked) this.selected.add(Number(box.value));
          else this.selected.delete(Number(box.value));
        }
        showBar();
      });
    }
    this.querySelector('#bulk-clear').addEventListener('click', () => {
      this.selected.clear();
      this.draw();
    });
    bar.addEventListener('submit', async (e) => {
      e.preventDefault();
      const body = { ids: [...this.selected] };
      const into = bar.merge_into.value.replace('#', '').trim();
      if (into) {
        // A merge goes alone: the other tickets' threads move into ticket `into`.
        body.merge_into = Number(into);
      } else {
        if (bar.assign_to.value) body.assign_to = Number(bar.assign_to.value);
        if (bar.status.value) body.status = bar.status.value;
        if (bar.tag.value.trim()) body.add_tags = [bar.tag.value.trim()];
      }
      try {
        const r = await api.post('/api/tickets/bulk', body);
        notify(body.merge_into ? t('bulk.merged', { n: body.ids.filter((id) => id !== body.merge_into).length, into: body.merge_into }) : t('bulk.done', { n: r.updated.length }));
        this.selected.clear();
        this.load();
      } catch (err) {
        notify(errorText(err), 'error');
      }
    });
  }
}

customElements.define('hl-ticket-list', HlTicketList);
