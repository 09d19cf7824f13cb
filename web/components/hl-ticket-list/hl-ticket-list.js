// <hl-ticket-list view="mine|unassigned|all|queue:ID"> — tickets with filters (status, kind),
// sorting, unread markers (changed since I last opened them); refreshes on live events.
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

export function markSeen(ticket) {
  const seen = JSON.parse(localStorage.getItem(SEEN_KEY) || '{}');
  seen[ticket.id] = ticket.updated_at;
  const ids = Object.keys(seen);
  if (ids.length > 2000) for (const id of ids.slice(0, ids.length - 2000)) delete seen[id];
  localStorage.setItem(SEEN_KEY, JSON.stringify(seen));
}

class HlTicketList extends HTMLElement {
  connectedCallback() {
    this.filters = JSON.parse(sessionStorage.getItem('hotline.list_filters') || '{"status":"","kind":"","sort":"updated"}');
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

  async draw() {
    const seen = JSON.parse(localStorage.getItem(SEEN_KEY) || '{}');
    const names = await loadCustomerNames([]);
    const f = this.filters;
    const list = this.sorted();
    render(this, html`
      <div class="row"><h1 class="grow">${this.title()} <span class="muted">(${list.length})</span></h1></div>
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
        <button class="primary" type="submit" id="bulk-apply">${t('bulk.apply')}</button>
        <button type="button" id="bulk-clear">${t('bulk.clear')}</button>
      </form>
      ${list.length === 0 ? html`<p class="empty">${t('list.empty')}</p>` : html`
      <table class="list" id="ticket-table">
        <thead><tr><th><input type="checkbox" id="select-all" aria-label="${t('bulk.select_all')}"
          ${list.length && list.every((x) => this.selected.has(x.id)) ? 'checked' : ''}></th><th>#</th><th>${t('ticket.subject')}</th><th>${t('ticket.customer')}</th><th>${t('ticket.channel')}</th>
          <th>${t('ticket.status')}</th><th>${t('ticket.priority')}</th><th>${t('ticket.queue')}</th><th>${t('ticket.assignee')}</th><th>${t('sla.column')}</th><th>${t('ticket.updated')}</th></tr></thead>
        <tbody>${list.map((x) => {
          const unread = seen[x.id] === undefined ? x.assignee_id === session.user.id || x.status === 'new' : seen[x.id] < x.updated_at;
          const c = names.get(x.customer_id);
          return html`<tr class="${unread ? 'unread' : ''}" data-id="${x.id}">
            <td><input type="checkbox" class="pick" value="${x.id}" aria-label="${t('bulk.select', { n: x.id })}" ${this.selected.has(x.id) ? 'checked' : ''}></td>
            <td class="nowrap">${x.id}</td>
            <td class="subject"><a href="#/ticket/${x.id}">${subjectText(x)}</a>${unread ? html`<span class="sr-only"> ${t('list.unread')}</span>` : ''}
              ${x.kind === 'complaint' || x.kind === 'callback' ? html` <span class="badge ${x.kind}">${t('kind.' + x.kind)}</span>` : ''}</td>
            <td class="name">${c ? c.name : ''} ${c && c.tier === 'vip' ? html`<span class="badge vip">${t('tier.vip')}</span>` : ''}</td>
            <td class="nowrap">${channelIcon(x.channel)} ${t('channel.' + x.channel)}</td>
            <td class="nowrap"><span class="badge ${x.status}">${t('status.' + x.status)}</span></td>
            <td class="nowrap"><span class="badge ${x.priority}">${t('priority.' + x.priority)}</span></td>
            <td class="nowrap">${session.queueName(x.queue_id)}</td>
            <td class="nowrap">${session.userName(x.assignee_id)}</td>
            <td class="nowrap">${slaBadge(x.sla)}</td>
            <td class="small nowrap">${fmtDateTime(x.updated_at)}</td></tr>`;
        })}</tbody>
      </table>`}`);
    this.querySelector('#filters').addEventListener('change', (e) => {
      this.filters[e.target.name] = e.target.value;
      sessionStorage.setItem('hotline.list_filters', JSON.stringify(this.filters));
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
      if (bar.assign_to.value) body.assign_to = Number(bar.assign_to.value);
      if (bar.status.value) body.status = bar.status.value;
      if (bar.tag.value.trim()) body.add_tags = [bar.tag.value.trim()];
      try {
        const r = await api.post('/api/tickets/bulk', body);
        notify(t('bulk.done', { n: r.updated.length }));
        this.selected.clear();
        this.load();
      } catch (err) {
        notify(errorText(err), 'error');
      }
    });
  }
}

customElements.define('hl-ticket-list', HlTicketList);
