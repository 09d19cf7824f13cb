// <hl-admin-users> — the admin's users screen: the list with search and filters (role, queue,
// active, presence), creating a user, editing one (name, role, extension, phone, email, skills,
// languages, queues, capacity per channel), resetting a password (the user must choose a new one
// at next sign-in), deactivating with a hand-over of their open work to a colleague in the same
// dialog, and their sessions and API tokens with revoke. Every change is audited by the server.
// Usage: <hl-admin-users></hl-admin-users> (the console shows it at #/admin/users).

import { api, query } from '../../lib/api.js';
import { html, render } from '../../lib/html.js';
import { enumText, errorText, fmtDateTime, t } from '../../lib/i18n.js';
import { notify } from '../../lib/session.js';
import { WORK_CHANNELS, openDialog, runChange, splitList } from '../../lib/admin.js';

const ROLES = ['agent', 'supervisor', 'admin'];
const PRESENCE = ['available', 'busy', 'wrap_up', 'away', 'offline'];

class HlAdminUsers extends HTMLElement {
  connectedCallback() {
    this.filters = { q: '', role: '', queue_id: '', active: 'true', presence: '' };
    this.onLocale = () => this.draw();
    window.addEventListener('hl-locale', this.onLocale);
    this.load();
  }

  disconnectedCallback() {
    window.removeEventListener('hl-locale', this.onLocale);
  }

  async load() {
    try {
      const [users, queues, presence] = await Promise.all([
        api.get(`/api/users${query(this.filters)}`),
        api.get('/api/queues'),
        api.get('/api/presence').catch(() => []),
      ]);
      this.users = Array.isArray(users) ? users : users.items || [];
      this.queues = queues;
      this.presence = new Map(presence.map((p) => [p.user_id, p]));
      if (!this.drawn) this.draw();
      else this.drawList();
    } catch (e) {
      render(this, html`<h1>${t('users.title')}</h1><p class="error" role="alert">${errorText(e)}</p>`);
    }
  }

  queuesOf(u) {
    if (Array.isArray(u.queues)) return u.queues.map((q) => (typeof q === 'object' ? q.id : q));
    return this.queues.filter((q) => q.members.includes(u.id)).map((q) => q.id);
  }

  presenceOf(u) {
    const p = u.presence && typeof u.presence === 'object' ? u.presence : this.presence.get(u.id);
    return p || { state: typeof u.presence === 'string' ? u.presence : 'offline', capacity: u.capacity || {} };
  }

  /** The filters apply here too, so the list is right whether or not the server filtered. */
  visible() {
    const f = this.filters;
    const q = f.q.trim().toLowerCase();
    return this.users.filter((u) => {
      if (q && ![u.login, u.display_name, u.extension, u.phone, u.email].some((v) => v && String(v).toLowerCase().includes(q))) return false;
      if (f.role && u.role !== f.role) return false;
      if (f.queue_id && !this.queuesOf(u).includes(Number(f.queue_id))) return false;
      if (f.active && String(u.active) !== f.active) return false;
      if (f.presence && this.presenceOf(u).state !== f.presence) return false;
      return true;
    });
  }

  draw() {
    if (!this.users) return;
    this.drawn = true;
    const f = this.filters;
    const opt = (value, label, sel) => html`<option value="${value}" ${value === sel ? 'selected' : ''}>${label}</option>`;
    render(this, html`
      <div class="admin-head">
        <h1>${t('users.title')}</h1>
        <button type="button" class="primary" id="user-new">${t('users.new')}</button>
      </div>
      <form class="filters" id="user-filters" role="search">
        <label class="grow">${t('users.search')}<input type="search" name="q" id="user-q" value="${f.q}" placeholder="${t('users.search_hint')}"></label>
        <label>${t('users.role')}<select name="role" id="user-f-role">${opt('', t('users.any'), f.role)}${ROLES.map((r) => opt(r, t('role.' + r), f.role))}</select></label>
        <label>${t('users.queue')}<select name="queue_id" id="user-f-queue">${opt('', t('users.any'), f.queue_id)}${this.queues.map((q) => opt(String(q.id), q.name, f.queue_id))}</select></label>
        <label>${t('users.active')}<select name="active" id="user-f-active">${opt('', t('users.any'), f.active)}${opt('true', t('users.active_only'), f.active)}${opt('false', t('users.inactive_only'), f.active)}</select></label>
        <label>${t('users.presence')}<select name="presence" id="user-f-presence">${opt('', t('users.any'), f.presence)}${PRESENCE.map((p) => opt(p, t('presence.' + p), f.presence))}</select></label>
      </form>
      <div id="user-list-wrap"></div>
      <dialog id="user-dialog" class="admin-dialog" aria-labelledby="user-dialog-title"></dialog>`);
    const form = this.querySelector('#user-filters');
    const apply = () => {
      this.filters = Object.fromEntries(new FormData(form));
      this.load();
    };
    form.addEventListener('submit', (e) => { e.preventDefault(); apply(); });
    form.addEventListener('change', apply);
    let typing;
    this.querySelector('#user-q').addEventListener('input', () => {
      clearTimeout(typing);
      typing = setTimeout(apply, 250);
    });
    this.querySelector('#user-new').onclick = () => this.openUser(null);
    this.drawList();
  }

  drawList() {
    const wrap = this.querySelector('#user-list-wrap');
    if (!wrap) return;
    const list = this.visible();
    const qname = (id) => (this.queues.find((q) => q.id === id) || {}).name || `#${id}`;
    render(wrap, list.length ? html`<table class="list" id="user-list"><thead><tr>
        <th>${t('users.name')}</th><th>${t('users.login')}</th><th>${t('users.role')}</th><th>${t('users.extension')}</th>
        <th>${t('users.phone')}</th><th>${t('users.queues')}</th><th>${t('users.presence')}</th><th>${t('users.active')}</th><th></th></tr></thead>
      <tbody>${list.map((u) => {
        const p = this.presenceOf(u);
        return html`<tr data-user-id="${u.id}" data-login="${u.login}">
          <td class="name">${u.display_name}</td><td class="nowrap">${u.login}</td><td class="nowrap">${t('role.' + u.role)}</td>
          <td class="nowrap">${u.extension || ''}</td><td class="nowrap">${u.phone || ''}</td>
          <td class="small">${this.queuesOf(u).map(qname).join(', ')}</td>
          <td><span class="badge ${p.state}">${enumText('presence', p.state)}</span></td>
          <td>${u.active ? t('users.yes') : html`<span class="badge offline">${t('users.deactivated')}</span>`}
            ${u.must_change_password ? html`<span class="badge pending">${t('users.must_change')}</span>` : ''}</td>
          <td><button type="button" class="small" data-edit-user="${u.id}">${t('users.edit')}</button></td></tr>`;
      })}</tbody></table>`
      : html`<p class="empty" id="user-empty">${this.users.length ? t('users.none_match') : t('users.empty')}</p>`);
    for (const b of wrap.querySelectorAll('[data-edit-user]')) {
      b.onclick = (e) => { e.stopPropagation(); this.openUser(this.users.find((u) => u.id === Number(b.dataset.editUser))); };
    }
    for (const tr of wrap.querySelectorAll('tr[data-user-id]')) {
      tr.onclick = () => this.openUser(this.users.find((u) => u.id === Number(tr.dataset.userId)));
    }
  }

  /** The create (u = null) or edit dialog. */
  openUser(u) {
    const dialog = this.querySelector('#user-dialog');
    const mine = u ? this.queuesOf(u) : this.queues.filter((q) => q.is_default).map((q) => q.id);
    // Effective capacity as the hint; the value is what was set for this user (when the
    // server says which), so saving does not pin the defaults on them.
    const effective = u ? u.capacity || this.presenceOf(u).capacity || {} : {};
    const cap = u ? u.capacity_set || effective : {};
    const others = this.users.filter((x) => x.active && (!u || x.id !== u.id));
    render(dialog, html`
      <form id="user-form" method="dialog" class="admin-form">
        <h2 id="user-dialog-title">${u ? t('users.edit_title', { name: u.display_name }) : t('users.new')}</h2>
        <div class="form-grid">
          ${u ? '' : html`<label>${t('users.login')}<input name="login" id="u-login" required autocomplete="off"></label>`}
          <label>${t('users.name')}<input name="display_name" id="u-name" required value="${u ? u.display_name : ''}"></label>
          <label>${t('users.role')}<select name="role" id="u-role">${ROLES.map((r) => html`<option value="${r}" ${(u ? u.role : 'agent') === r ? 'selected' : ''}>${t('role.' + r)}</option>`)}</select></label>
          ${u ? '' : html`<label>${t('users.password')}<input name="password" id="u-password" type="password" required autocomplete="new-password"></label>`}
          <label>${t('users.extension')}<input name="extension" id="u-extension" value="${u ? u.extension || '' : ''}"></label>
          <label>${t('users.phone')}<input name="phone" id="u-phone" type="tel" value="${u ? u.phone || '' : ''}" placeholder="+86 138 0013 8000"></label>
          <label>${t('users.email')}<input name="email" id="u-email" type="email" value="${u ? u.email || '' : ''}"></label>
          <label>${t('users.skills')}<input name="skills" id="u-skills" value="${u ? u.skills.join(', ') : ''}" placeholder="${t('users.list_hint')}"></label>
          <label>${t('users.languages')}<input name="languages" id="u-languages" value="${u ? u.languages.join(', ') : ''}" placeholder="zh, en"></label>
        </div>
        <fieldset>
          <legend>${t('users.queues')}</legend>
          <div class="checks" id="u-queues">${this.queues.map((q) => html`<label class="check"><input type="checkbox" name="queue" value="${q.id}" ${mine.includes(q.id) ? 'checked' : ''}>${q.name}</label>`)}</div>
        </fieldset>
        <fieldset>
          <legend>${t('users.capacity')}</legend>
          <p class="muted small">${t('users.capacity_hint')}</p>
          <div class="form-grid">${WORK_CHANNELS.map((ch) => html`<label>${enumText('channel', ch)}<input type="number" min="0" max="100" name="cap_${ch}" id="u-cap-${ch}" value="${cap[ch] ?? ''}" data-was="${cap[ch] ?? ''}" placeholder="${effective[ch] ?? ''}"></label>`)}</div>
        </fieldset>
        <div class="row dialog-actions">
          <button type="submit" class="primary" id="u-save" value="save">${t('common.save')}</button>
          <button type="button" id="u-cancel">${t('common.cancel')}</button>
        </div>
      </form>
      ${u ? html`
      <section class="admin-sub" aria-labelledby="u-pw-h">
        <h3 id="u-pw-h">${t('users.reset_password')}</h3>
        <p class="muted small">${t('users.reset_hint')}</p>
        <form class="filters" id="u-reset-form">
          <label class="grow">${t('users.new_password')}<input name="password" id="u-reset-password" type="password" required autocomplete="new-password"></label>
          <button type="submit" id="u-reset">${t('users.reset_go')}</button>
        </form>
      </section>
      <section class="admin-sub" aria-labelledby="u-act-h">
        <h3 id="u-act-h">${u.active ? t('users.deactivate') : t('users.reactivate')}</h3>
        ${u.active ? html`
          <p class="muted small">${t('users.deactivate_hint')}</p>
          <form class="filters" id="u-deactivate-form">
            <label class="grow">${t('users.handover_to')}<select name="to" id="u-handover-to">
              <option value="">${t('users.handover_none')}</option>
              ${others.map((x) => html`<option value="${x.id}">${x.display_name} (${x.login})</option>`)}</select></label>
            <button type="submit" class="danger" id="u-deactivate">${t('users.deactivate_go')}</button>
          </form>`
          : html`<button type="button" id="u-reactivate">${t('users.reactivate_go')}</button>`}
      </section>
      <section class="admin-sub" aria-labelledby="u-tok-h">
        <h3 id="u-tok-h">${t('users.sessions_tokens')}</h3>
        <div id="u-tokens"><p class="muted small">${t('common.loading')}</p></div>
      </section>` : ''}`);
    const form = dialog.querySelector('#user-form');
    form.addEventListener('submit', (e) => { e.preventDefault(); this.save(u, form); });
    dialog.querySelector('#u-cancel').onclick = () => dialog.close();
    if (u) {
      dialog.querySelector('#u-reset-form').addEventListener('submit', (e) => {
        e.preventDefault();
        const pw = e.target.password.value;
        runChange(() => api.patch(`/api/users/${u.id}`, { password: pw }, u.version), () => this.reopen(u.id), t('users.reset_done'));
      });
      const deact = dialog.querySelector('#u-deactivate-form');
      if (deact) deact.addEventListener('submit', (e) => { e.preventDefault(); this.deactivate(u, Number(e.target.to.value) || null); });
      const react = dialog.querySelector('#u-reactivate');
      if (react) react.onclick = () => runChange(() => api.patch(`/api/users/${u.id}`, { active: true }, u.version), () => this.reopen(u.id));
      this.loadTokens(u);
    }
    openDialog(dialog);
  }

  async reopen(id) {
    await this.load();
    const u = this.users.find((x) => x.id === id) || (await api.get(`/api/users/${id}`));
    this.openUser(u);
  }

  async save(u, form) {
    const v = Object.fromEntries(new FormData(form));
    const wantQueues = [...form.querySelectorAll('input[name=queue]:checked')].map((i) => Number(i.value));
    const capacity = {};
    for (const ch of WORK_CHANNELS) {
      const input = form.querySelector(`#u-cap-${ch}`);
      if (input.value !== input.dataset.was && input.value !== '') capacity[ch] = Number(input.value);
    }
    const body = {
      display_name: v.display_name,
      role: v.role,
      extension: v.extension.trim() || null,
      phone: v.phone.trim() || null,
      email: v.email.trim() || null,
      skills: splitList(v.skills),
      languages: splitList(v.languages),
    };
    try {
      let user;
      if (u) {
        // Only what changed: an unchanged role sent back would still close their consoles.
        const same = (a, b) => JSON.stringify(a ?? null) === JSON.stringify(b ?? null);
        const changed = Object.fromEntries(Object.entries(body).filter(([k, x]) => !same(x, u[k])));
        user = Object.keys(changed).length ? await api.patch(`/api/users/${u.id}`, changed, u.version) : u;
        const had = this.queuesOf(u).sort((a, b) => a - b);
        if (!same(had, [...wantQueues].sort((a, b) => a - b))) await this.applyQueues(user.id, wantQueues);
        if (Object.keys(capacity).length) await api.put(`/api/agents/${user.id}/capacity`, { capacity });
      } else {
        // One call: nothing is created when the queues or the capacity are refused.
        user = await api.post('/api/users', { ...body, login: v.login.trim(), password: v.password, queue_ids: wantQueues, capacity });
      }
      notify(u ? t('common.saved') : t('users.created', { login: user.login }));
      this.querySelector('#user-dialog').close();
      await this.load();
    } catch (e) {
      notify(errorText(e), 'error');
    }
  }

  /** Makes `userId` a member of exactly `wanted` (queues whose list changes are set one by one). */
  async applyQueues(userId, wanted) {
    try {
      await api.put(`/api/users/${userId}/queues`, { queue_ids: wanted });
      return;
    } catch (e) {
      // Servers without the one-call route: set each queue's member list instead.
      if (!e.missing && e.status !== 405) throw e;
    }
    const queues = await api.get('/api/queues');
    for (const q of queues) {
      const has = q.members.includes(userId);
      const want = wanted.includes(q.id);
      if (has === want) continue;
      const members = want ? [...q.members, userId] : q.members.filter((m) => m !== userId);
      await api.put(`/api/queues/${q.id}/members`, { user_ids: members });
    }
  }

  /** Hands the user's open work to `to` (when chosen), then deactivates them. */
  async deactivate(u, to) {
    try {
      let moved = null;
      if (to) moved = await api.post(`/api/users/${u.id}/handover`, { to });
      const fresh = await api.get(`/api/users/${u.id}`);
      await api.patch(`/api/users/${u.id}`, { active: false }, fresh.version);
      notify(moved ? t('users.deactivated_handover', { n: moved.tickets.length, name: (this.users.find((x) => x.id === to) || {}).display_name || '' })
        : t('users.deactivated_done'));
      this.querySelector('#user-dialog').close();
      await this.load();
    } catch (e) {
      notify(errorText(e), 'error');
    }
  }

  async loadTokens(u) {
    const box = this.querySelector('#u-tokens');
    try {
      const [sessions, tokens] = await Promise.all([
        api.get(`/api/auth/tokens?user_id=${u.id}&kind=session`),
        api.get(`/api/auth/tokens?user_id=${u.id}&kind=api`),
      ]);
      const all = [...sessions, ...tokens];
      if (!box.isConnected) return;
      render(box, all.length ? html`<table class="list" id="u-token-list"><thead><tr>
          <th>${t('users.token_kind')}</th><th>${t('users.token_name')}</th><th>${t('users.token_created')}</th>
          <th>${t('users.token_expires')}</th><th>${t('users.token_used')}</th><th></th></tr></thead>
        <tbody>${all.map((k) => html`<tr data-token-id="${k.id}">
          <td class="nowrap">${t('users.kind.' + (k.kind === 'session' ? 'session' : 'api'))}</td><td>${k.name}</td>
          <td class="nowrap small">${fmtDateTime(k.created_at)}</td><td class="nowrap small">${k.expires_at ? fmtDateTime(k.expires_at) : '—'}</td>
          <td class="nowrap small">${k.last_used_at ? fmtDateTime(k.last_used_at) : '—'}</td>
          <td>${k.current ? html`<span class="muted small">${t('users.this_session')}</span>` : html`<button type="button" class="danger small" data-revoke="${k.id}">${t('users.revoke')}</button>`}</td></tr>`)}</tbody></table>`
        : html`<p class="empty small">${t('users.no_tokens')}</p>`);
      for (const b of box.querySelectorAll('[data-revoke]')) {
        b.onclick = () => runChange(() => api.del(`/api/auth/tokens/${b.dataset.revoke}`), () => this.loadTokens(u), t('users.revoked'));
      }
    } catch (e) {
      render(box, html`<p class="error">${errorText(e)}</p>`);
    }
  }
}

customElements.define('hl-admin-users', HlAdminUsers);
