// <hl-admin-macros> — macros: canned replies with placeholders ({customer.honorific},
// {ticket.number}, …) and optional actions (status, priority, tags to add, queue) that the
// composer's macro picker inserts. Everyone sees the macros they may use; agents create and edit
// their personal ones (shared ones are read-only for them), supervisors also shared ones of the
// queues they work, admins all. The server decides (`can_edit` on each macro).
// Usage: <hl-admin-macros></hl-admin-macros> (the console shows it at #/admin/macros).

import { api } from '../../lib/api.js';
import { html, render } from '../../lib/html.js';
import { errorText, t } from '../../lib/i18n.js';
import { session } from '../../lib/session.js';
import { runChange, splitList } from '../../lib/admin.js';

const LANGUAGES = ['zh-CN', 'en'];
const STATUSES = ['new', 'open', 'pending', 'resolved', 'closed'];
const PRIORITIES = ['low', 'normal', 'high', 'urgent'];

/** A macro's actions as one line ("Status: Pending · Tags +refund"). */
export function actionsText(a) {
  if (!a) return '';
  const parts = [];
  if (a.status) parts.push(`${t('macros.action.status')}: ${t('status.' + a.status)}`);
  if (a.priority) parts.push(`${t('macros.action.priority')}: ${t('priority.' + a.priority)}`);
  if (a.add_tags && a.add_tags.length) parts.push(`${t('macros.action.tags')}: ${a.add_tags.map((x) => '+' + x).join(' ')}`);
  if (a.queue_id) parts.push(`${t('macros.action.queue')}: ${session.queueName(a.queue_id)}`);
  return parts.join(' · ');
}

class HlAdminMacros extends HTMLElement {
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
      const list = await api.get('/api/macros');
      this.macros = list.macros;
      this.placeholders = list.placeholders;
      this.draw();
    } catch (e) {
      render(this, html`<h1>${t('macros.title')}</h1><p class="error" role="alert">${errorText(e)}</p>`);
    }
  }

  /** The queues a shared macro may be given: all for admins, the ones they work for supervisors. */
  queues() {
    if (session.admin) return session.queues;
    return session.queues.filter((q) => !Array.isArray(q.members) || q.members.includes(session.user.id));
  }

  where(m) {
    if (m.scope === 'personal') return t('macros.scope.personal');
    return m.queue_id ? `${t('macros.scope.shared')} · ${session.queueName(m.queue_id)}` : `${t('macros.scope.shared')} · ${t('macros.every_queue')}`;
  }

  draw() {
    if (!this.macros) return;
    const editing = this.editing || null;
    const a = (editing && editing.actions) || {};
    const canShare = session.supervisor;
    render(this, html`
      <div class="admin-head"><h1>${t('macros.title')}</h1></div>
      <p class="muted small">${t('macros.hint')}</p>
      ${this.macros.length ? html`<table class="list" id="macro-list"><thead><tr><th>${t('macros.name')}</th><th>${t('macros.language')}</th>
          <th>${t('macros.where')}</th><th>${t('macros.body')}</th><th>${t('macros.actions')}</th><th></th></tr></thead>
        <tbody>${this.macros.map((m) => html`<tr data-macro="${m.id}">
          <td>${m.title}</td><td class="nowrap">${t('macros.lang.' + m.language)}</td><td class="nowrap">${this.where(m)}</td>
          <td class="small excerpt">${m.body}</td><td class="small">${actionsText(m.actions)}</td>
          <td class="nowrap">${m.can_edit ? html`<button type="button" class="small" data-edit-macro="${m.id}">${t('macros.edit')}</button>
            <button type="button" class="small danger" data-delete-macro="${m.id}">${t('macros.delete')}</button>` : html`<span class="small muted">${t('macros.read_only')}</span>`}</td></tr>`)}</tbody></table>`
        : html`<p class="empty" id="macro-empty">${t('macros.empty')}</p>`}
      <form class="panel admin-panel" id="macro-form" aria-labelledby="macro-h">
        <h2 id="macro-h">${editing ? t('macros.edit_title') : t('macros.new_title')}</h2>
        <div class="form-grid">
          <label>${t('macros.name')}<input name="title" id="macro-title" required value="${editing ? editing.title : ''}"></label>
          <label>${t('macros.language')}<select name="language" id="macro-language">${LANGUAGES.map((l) => html`<option value="${l}" ${(editing ? editing.language : session.user.locale === 'en' ? 'en' : 'zh-CN') === l ? 'selected' : ''}>${t('macros.lang.' + l)}</option>`)}</select></label>
          <label>${t('macros.where')}<select name="where" id="macro-where">
            <option value="personal" ${!editing || editing.scope === 'personal' ? 'selected' : ''}>${t('macros.scope.personal')}</option>
            ${canShare && session.admin ? html`<option value="shared:" ${editing && editing.scope === 'shared' && !editing.queue_id ? 'selected' : ''}>${t('macros.scope.shared')} · ${t('macros.every_queue')}</option>` : ''}
            ${canShare ? this.queues().map((q) => html`<option value="shared:${q.id}" ${editing && editing.scope === 'shared' && editing.queue_id === q.id ? 'selected' : ''}>${t('macros.scope.shared')} · ${q.name}</option>`) : ''}
          </select></label>
        </div>
        <label>${t('macros.body')}<textarea name="body" id="macro-body" rows="6" required>${editing ? editing.body : ''}</textarea></label>
        <p class="muted small" id="macro-placeholders">${t('macros.placeholders', { list: (this.placeholders || []).map((p) => `{${p}}`).join(' ') })}</p>
        <fieldset><legend>${t('macros.actions')}</legend><div class="form-grid">
          <label>${t('macros.action.status')}<select name="status" id="macro-status"><option value="">—</option>
            ${STATUSES.map((s) => html`<option value="${s}" ${a.status === s ? 'selected' : ''}>${t('status.' + s)}</option>`)}</select></label>
          <label>${t('macros.action.priority')}<select name="priority" id="macro-priority"><option value="">—</option>
            ${PRIORITIES.map((s) => html`<option value="${s}" ${a.priority === s ? 'selected' : ''}>${t('priority.' + s)}</option>`)}</select></label>
          <label>${t('macros.action.tags')}<input name="add_tags" id="macro-tags" value="${(a.add_tags || []).join(', ')}" placeholder="${t('ticket.tags_hint')}"></label>
          <label>${t('macros.action.queue')}<select name="queue_id" id="macro-queue"><option value="">—</option>
            ${session.queues.map((q) => html`<option value="${q.id}" ${a.queue_id === q.id ? 'selected' : ''}>${q.name}</option>`)}</select></label>
        </div></fieldset>
        <div class="row">
          <button type="submit" class="primary" id="macro-save">${t('common.save')}</button>
          ${editing ? html`<button type="button" id="macro-cancel">${t('common.cancel')}</button>` : ''}
        </div>
      </form>`);
    this.wire();
  }

  wire() {
    const f = this.querySelector('#macro-form');
    f.addEventListener('submit', (e) => {
      e.preventDefault();
      this.save(f);
    });
    this.querySelector('#macro-cancel')?.addEventListener('click', () => {
      this.editing = null;
      this.draw();
    });
    for (const b of this.querySelectorAll('[data-edit-macro]')) {
      b.onclick = () => {
        this.editing = this.macros.find((m) => m.id === Number(b.dataset.editMacro));
        this.draw();
        this.querySelector('#macro-title').focus();
      };
    }
    for (const b of this.querySelectorAll('[data-delete-macro]')) {
      b.onclick = () => {
        if (!confirm(t('macros.delete_confirm'))) return;
        runChange(() => api.del(`/api/macros/${b.dataset.deleteMacro}`), () => this.load(), t('macros.deleted'));
      };
    }
  }

  async save(f) {
    const [scope, queue] = f.where.value.split(':');
    const actions = {};
    if (f.status.value) actions.status = f.status.value;
    if (f.priority.value) actions.priority = f.priority.value;
    const tags = splitList(f.add_tags.value);
    if (tags.length) actions.add_tags = tags;
    if (f.queue_id.value) actions.queue_id = Number(f.queue_id.value);
    const body = {
      title: f.title.value, body: f.body.value, language: f.language.value, scope,
      queue_id: queue ? Number(queue) : null, actions,
    };
    const id = this.editing && this.editing.id;
    const ok = await runChange(() => (id ? api.patch(`/api/macros/${id}`, body) : api.post('/api/macros', body)), null);
    // Refused: runChange showed why; the form keeps what was typed.
    if (ok) {
      this.editing = null;
      await this.load();
    }
  }
}

customElements.define('hl-admin-macros', HlAdminMacros);
