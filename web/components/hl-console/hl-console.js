// <hl-console> — the agent console: sign-in, the top bar (search, presence, live status with a
// text label, language), a band under it for ringing offers and hints (part of the layout, it
// pushes the page down), navigation, and the routed main view. A screen pop opens only when it
// is for this user (`ev.user_id`). Routes (location.hash):
//   #/tickets?view=mine|queue:ID|unassigned|all   #/ticket/ID   #/customers?q=…   #/customer/ID   #/pop
//   #/complaints (supervisors: the complaint register)
//   #/reports?tab=volume|service|…&from=&to=&interval=&queue= (supervisors)
//   #/admin/users|queues|rules|templates|macros|data|webhooks|audit|system|phone (Administration: admins see
//   all, supervisors queues, rules and macros, agents macros)
// Usage: <hl-console></hl-console> in index.html (the only element there).

import { api } from '../../lib/api.js';
import { html, raw, render } from '../../lib/html.js';
import { i18n, t, LOCALES } from '../../lib/i18n.js';
import { drafts } from '../../lib/drafts.js';
import { notify, session } from '../../lib/session.js';
import '../hl-signin/hl-signin.js';
import '../hl-presence/hl-presence.js';
import '../hl-offers/hl-offers.js';
import '../hl-call-panel/hl-call-panel.js';
import '../hl-notifications/hl-notifications.js';
import '../hl-ticket-list/hl-ticket-list.js';
import '../hl-ticket-view/hl-ticket-view.js';
import '../hl-customer-view/hl-customer-view.js';
import '../hl-customer-search/hl-customer-search.js';
import '../hl-kb-panel/hl-kb-panel.js';
import '../hl-phone-settings/hl-phone-settings.js';
import '../hl-call-report/hl-call-report.js';
import '../hl-admin-users/hl-admin-users.js';
import '../hl-admin-queues/hl-admin-queues.js';
import '../hl-admin-rules/hl-admin-rules.js';
import '../hl-admin-templates/hl-admin-templates.js';
import '../hl-admin-macros/hl-admin-macros.js';
import '../hl-audit-log/hl-audit-log.js';
import '../hl-system-status/hl-system-status.js';
import '../hl-complaints/hl-complaints.js';
import '../hl-reports/hl-reports.js';
import '../hl-kb-proposals/hl-kb-proposals.js';
import '../hl-admin-webhooks/hl-admin-webhooks.js';
import '../hl-admin-data/hl-admin-data.js';

/** The Administration screens: route name, element, nav label, who may open it. */
const ADMIN_SCREENS = [
  { name: 'users', tag: 'hl-admin-users', label: 'nav.admin_users', supervisor: false },
  { name: 'queues', tag: 'hl-admin-queues', label: 'nav.admin_queues', supervisor: true },
  { name: 'rules', tag: 'hl-admin-rules', label: 'nav.admin_rules', supervisor: true },
  { name: 'templates', tag: 'hl-admin-templates', label: 'nav.admin_templates', supervisor: false },
  // Everyone: agents keep their personal macros (shared ones read-only).
  { name: 'macros', tag: 'hl-admin-macros', label: 'nav.admin_macros', supervisor: true, agent: true },
  { name: 'kb-proposals', tag: 'hl-kb-proposals', label: 'nav.kb_proposals', supervisor: false },
  { name: 'webhooks', tag: 'hl-admin-webhooks', label: 'nav.admin_webhooks', supervisor: false },
  { name: 'data', tag: 'hl-admin-data', label: 'nav.admin_data', supervisor: false },
  { name: 'audit', tag: 'hl-audit-log', label: 'nav.admin_audit', supervisor: false },
  { name: 'system', tag: 'hl-system-status', label: 'nav.admin_system', supervisor: false },
  { name: 'phone', tag: 'hl-phone-settings', label: 'nav.phone_settings', supervisor: false },
  { name: 'dispositions', tag: 'hl-call-report', label: 'nav.call_report', supervisor: true },
  // Links from the system status (#/admin/mail?status=quarantined) open it at the mail list.
  { name: 'mail', tag: 'hl-system-status', label: 'nav.admin_system', supervisor: false, hidden: true },
];

/**
 * Whether single-letter shortcuts are on for this user. Kept in this browser's localStorage
 * per user: the server has no store of user preferences (only profile fields) yet.
 */
export function singleKeysOn(userId) {
  try {
    return localStorage.getItem(`hl.single-keys-off.${userId}`) !== '1';
  } catch {
    return true;
  }
}

function setSingleKeys(userId, on) {
  try {
    if (on) localStorage.removeItem(`hl.single-keys-off.${userId}`);
    else localStorage.setItem(`hl.single-keys-off.${userId}`, '1');
  } catch {
    /* storage refused (private mode): the setting lasts this page */
  }
}

class HlConsole extends HTMLElement {
  async connectedCallback() {
    await i18n.load(i18n.preferred());
    window.addEventListener('hl-unauthenticated', () => this.showSignIn());
    window.addEventListener('hl-signed-in', () => this.start());
    window.addEventListener('hashchange', () => this.route());
    window.addEventListener('hl-locale', () => this.user && this.renderShell());
    window.addEventListener('hl-presence', (e) => this.showPresenceHint(e.detail));
    drafts.prune();
    document.addEventListener('keydown', (e) => this.shortcut(e));
    try {
      await session.load();
      await this.start();
    } catch {
      this.showSignIn();
    }
  }

  get user() {
    return session.user;
  }

  showSignIn() {
    session.live.stop();
    session.user = null;
    session.notifications = null;
    document.title = 'Hotline';
    render(this, html`<hl-signin></hl-signin>`);
  }

  async start() {
    if (!session.user) await session.load();
    // A reset password must be replaced first (the API refuses everything else): signing in
    // again shows the form for it.
    if (session.user.must_change_password) {
      this.showSignIn();
      return;
    }
    if (session.user.locale && session.user.locale !== i18n.locale) await i18n.load(session.user.locale);
    const live = session.live;
    if (!this.liveWired) {
      this.liveWired = true;
      live.addEventListener('status', (e) => this.showLive(e.detail));
      live.addEventListener('event', (e) => this.onEvent(e.detail));
      live.addEventListener('resync', () => window.dispatchEvent(new CustomEvent('hl-reload')));
    }
    live.start();
    this.renderShell();
  }

  renderShell() {
    const u = this.user;
    const queues = session.myQueues();
    render(this, html`
      <div class="shell">
        <header class="topbar">
          <a class="brand" href="#/tickets">Hotline</a>
          <form class="search" role="search" id="search-form">
            <label class="sr-only" for="global-search">${t('search.label')}</label>
            <input type="search" id="global-search" placeholder="${t('search.placeholder')}" autocomplete="off">
          </form>
          <span class="grow"></span>
          <hl-presence></hl-presence>
          <hl-notifications></hl-notifications>
          <span class="live-status" id="live-status" title="${t('live.' + session.live.status)}">
            <span class="live-dot ${session.live.status}" id="live-dot" aria-hidden="true"></span>
            <span id="live-label">${t('live.label.' + session.live.status)}</span></span>
          <label class="sr-only" for="locale">${t('nav.language')}</label>
          <select id="locale">
            ${LOCALES.map((l) => html`<option value="${l}" ${l === i18n.locale ? 'selected' : ''}>${t('locale.' + l)}</option>`)}
          </select>
          <span class="who">${u.display_name} · ${t('role.' + u.role)}</span>
          <button type="button" id="signout">${t('nav.sign_out')}</button>
        </header>
        <hl-offers></hl-offers>
        <hl-call-panel hidden></hl-call-panel>
        <div class="hint-band" id="offline-hint" role="status" ${this.presenceState === 'offline' ? '' : 'hidden'}>
          <strong>${t('presence.offline_hint_title')}</strong>
          <span class="grow">${t('presence.offline_hint')}</span>
          <button type="button" class="primary" id="go-available">${t('presence.go_available')}</button>
        </div>
        <div class="shell-body">
          <nav class="nav" aria-label="${t('nav.label')}">
            <a href="#/tickets?view=mine" data-nav="mine">${t('nav.my_tickets')}</a>
            <a href="#/tickets?view=unassigned" data-nav="unassigned">${t('nav.unassigned')}</a>
            ${session.supervisor ? html`<a href="#/tickets?view=all" data-nav="all">${t('nav.all_tickets')}</a>` : ''}
            <h3>${t('nav.queues')}</h3>
            ${queues.map((q) => html`<a href="#/tickets?view=queue:${q.id}" data-nav="queue:${q.id}">${q.name}</a>`)}
            ${queues.length ? '' : html`<p class="muted small" style="padding:0 .6rem">${t('nav.no_queues')}</p>`}
            <h3>${t('nav.customers')}</h3>
            <a href="#/customers" data-nav="customers">${t('nav.customer_search')}</a>
            <a href="#/pop" data-nav="pop" id="nav-pop" ${session.screenPop ? '' : 'hidden'}>${t('nav.screen_pop')}</a>
            ${session.supervisor ? html`<h3>${t('nav.supervisor')}</h3><a href="/wallboard.html">${t('nav.wallboard')}</a>
              <a href="#/complaints" data-nav="complaints" id="nav-complaints">${t('nav.complaints')}</a>
              <a href="#/reports" data-nav="reports" id="nav-reports">${t('nav.reports')}</a>` : ''}
            ${this.adminScreens().length ? html`<h3 id="nav-admin">${t('nav.admin')}</h3>
              ${this.adminScreens().filter((a) => !a.hidden).map((a) => html`<a href="#/admin/${a.name}" data-nav="admin-${a.name}">${t(a.label)}</a>`)}` : ''}
            <h3>${t('nav.help')}</h3>
            <a href="#" id="show-keys">${t('nav.shortcuts')}</a>
          </nav>
          <main class="main" id="view" tabindex="-1"></main>
          <aside class="side" aria-label="${t('kb.title')}"><hl-kb-panel></hl-kb-panel></aside>
        </div>
      </div>
      <dialog id="keys">
        <h2>${t('keys.title')}</h2>
        <dl class="small">
          ${['/', 'g t', 'g c', 'k', 'r', 'n', 'Ctrl+Enter', 'a', 'x', '?'].map((k) => html`<dt><kbd>${k}</kbd></dt><dd>${t('keys.' + k)}</dd>`)}
        </dl>
        <label class="keys-setting"><input type="checkbox" id="single-keys" ${singleKeysOn(u.id) ? 'checked' : ''}>
          ${t('keys.single_letter')}</label>
        <p class="small muted">${t('keys.single_letter_help')}</p>
        <form method="dialog"><button class="primary">${t('common.close')}</button></form>
      </dialog>`);
    this.querySelector('#search-form').addEventListener('submit', (e) => {
      e.preventDefault();
      const q = this.querySelector('#global-search').value.trim();
      if (q) location.hash = `#/customers?q=${encodeURIComponent(q)}`;
    });
    this.querySelector('#signout').addEventListener('click', async () => {
      await api.post('/api/auth/logout').catch(() => {});
      session.live.forget();
      this.showSignIn();
    });
    this.querySelector('#locale').addEventListener('change', async (e) => {
      const locale = e.target.value;
      await api.patch(`/api/users/${this.user.id}`, { locale }).catch(() => {});
      session.user.locale = locale;
      await i18n.load(locale);
    });
    this.querySelector('#go-available').addEventListener('click', () => {
      window.dispatchEvent(new CustomEvent('hl-set-presence', { detail: 'available' }));
    });
    this.querySelector('#single-keys').addEventListener('change', (e) => setSingleKeys(u.id, e.target.checked));
    this.querySelector('#show-keys').addEventListener('click', (e) => {
      e.preventDefault();
      this.querySelector('#keys').showModal();
    });
    this.route();
  }

  showLive(status) {
    const dot = this.querySelector('#live-dot');
    if (!dot) return;
    dot.className = `live-dot ${status}`;
    this.querySelector('#live-label').textContent = t('live.label.' + status);
    this.querySelector('#live-status').title = t('live.' + status);
  }

  /** An agent who is offline is told how to start receiving work. */
  showPresenceHint(state) {
    this.presenceState = state;
    const hint = this.querySelector('#offline-hint');
    if (hint) hint.hidden = state !== 'offline';
  }

  onEvent(ev) {
    // Pops are for one agent: a supervisor (who sees every event) never gets another's.
    if (ev.kind === 'screen_pop' && ev.payload && ev.payload.view && ev.user_id === session.user.id) {
      session.screenPop = { ...ev.payload, at_ms: ev.at_ms };
      const nav = this.querySelector('#nav-pop');
      if (nav) nav.hidden = false;
      if (location.hash === '#/pop') this.route();
      else location.hash = '#/pop';
    }
    const me = session.user.id;
    const p = ev.payload || {};
    if ((ev.kind === 'sla.warning' || ev.kind === 'sla.breach') && (ev.user_id === me || (p.ticket && p.ticket.assignee_id === me) || !session.supervisor)) {
      notify(t(ev.kind === 'sla.breach' ? 'live.sla_breach' : 'live.sla_warning', { n: p.ticket_id ?? ev.ticket_id }), ev.kind === 'sla.breach' ? 'error' : 'info');
    }
    if ((ev.kind === 'ticket.updated' || ev.kind === 'ticket.created') && p.ticket && p.ticket.assignee_id === me && p.by !== me && p.by !== undefined) {
      notify(t('live.assigned_to_you', { n: p.ticket.id }));
    }
    window.dispatchEvent(new CustomEvent('hl-event', { detail: ev }));
  }

  route() {
    const view = this.querySelector('#view');
    if (!view) return;
    const hash = location.hash.replace(/^#/, '') || '/tickets';
    const [path, qs] = hash.split('?');
    const params = new URLSearchParams(qs || '');
    const parts = path.split('/').filter(Boolean);
    let navKey = '';
    switch (parts[0]) {
      case 'ticket':
        render(view, html`<hl-ticket-view ticket-id="${parts[1]}"></hl-ticket-view>`);
        break;
      case 'customers':
        navKey = 'customers';
        render(view, html`<hl-customer-search q="${params.get('q') || ''}" tier="${params.get('tier') || ''}" tag="${params.get('tag') || ''}"></hl-customer-search>`);
        break;
      case 'customer':
        render(view, html`<hl-customer-view customer-id="${parts[1]}"></hl-customer-view>`);
        break;
      case 'complaints':
        navKey = 'complaints';
        render(view, session.supervisor ? html`<hl-complaints></hl-complaints>` : html`<p class="empty">${t('admin.not_allowed')}</p>`);
        break;
      case 'reports':
        navKey = 'reports';
        // The tab and filters live in the hash (#/reports?tab=service&from=…), so a link or a
        // re-render (language change) keeps them.
        render(view, session.supervisor ? html`<hl-reports ${['tab', 'from', 'to', 'interval', 'queue'].map((k) => html` ${k}="${params.get(k) || ''}"`)}></hl-reports>` : html`<p class="empty">${t('admin.not_allowed')}</p>`);
        break;
      case 'admin': {
        const screen = this.adminScreens().find((a) => a.name === (parts[1] || 'users'));
        navKey = screen ? `admin-${screen.hidden ? 'system' : screen.name}` : '';
        // The element gets the hash's parameters (e.g. #/admin/audit?target=user:3) as attributes.
        const attrs = [...params].filter(([k]) => /^[a-z_]+$/.test(k)).map(([k, v]) => html` data-${k.replace(/_/g, '-')}="${v}"`);
        render(view, screen ? html`<${raw(screen.tag)}${attrs}></${raw(screen.tag)}>` : html`<p class="empty">${t('admin.not_allowed')}</p>`);
        break;
      }
      case 'pop': {
        navKey = 'pop';
        const pop = session.screenPop;
        if (!pop) {
          render(view, html`<p class="empty">${t('pop.none')}</p>`);
          break;
        }
        render(view, html`<hl-customer-view></hl-customer-view>`);
        view.querySelector('hl-customer-view').showPop(pop);
        break;
      }
      default: {
        navKey = params.get('view') || 'mine';
        render(view, html`<hl-ticket-list view="${navKey}"></hl-ticket-list>`);
      }
    }
    for (const a of this.querySelectorAll('nav.nav a[data-nav]')) {
      if (a.dataset.nav === navKey) a.setAttribute('aria-current', 'page');
      else a.removeAttribute('aria-current');
    }
  }

  /** The Administration screens this user may open. */
  adminScreens() {
    if (session.admin) return ADMIN_SCREENS;
    if (session.supervisor) return ADMIN_SCREENS.filter((a) => a.supervisor);
    return ADMIN_SCREENS.filter((a) => a.agent);
  }

  shortcut(e) {
    if (!this.user) return;
    const target = e.target;
    const typing = target.closest && target.closest('input, textarea, select, [contenteditable]');
    if (e.key === 'Enter' && (e.ctrlKey || e.metaKey)) {
      window.dispatchEvent(new CustomEvent('hl-shortcut', { detail: 'send' }));
      return;
    }
    if (typing || e.altKey || e.ctrlKey || e.metaKey) return;
    // Single-letter shortcuts can be turned off (speech input, some keyboards); `?` and `/`
    // stay, so the help that turns them back on is always one key away.
    if (!singleKeysOn(this.user.id) && /^[a-z]$/i.test(e.key)) return;
    if (this.pendingG) {
      this.pendingG = false;
      if (e.key === 't') location.hash = '#/tickets?view=mine';
      if (e.key === 'c') location.hash = '#/customers';
      return;
    }
    const actions = {
      '/': () => this.querySelector('#global-search')?.focus(),
      g: () => {
        this.pendingG = true;
        setTimeout(() => (this.pendingG = false), 1200);
      },
      k: () => this.querySelector('hl-kb-panel input')?.focus(),
      '?': () => this.querySelector('#keys')?.showModal(),
      r: () => window.dispatchEvent(new CustomEvent('hl-shortcut', { detail: 'reply' })),
      n: () => window.dispatchEvent(new CustomEvent('hl-shortcut', { detail: 'note' })),
      a: () => window.dispatchEvent(new CustomEvent('hl-shortcut', { detail: 'accept' })),
      x: () => window.dispatchEvent(new CustomEvent('hl-shortcut', { detail: 'reject' })),
    };
    const act = actions[e.key];
    if (act) {
      e.preventDefault();
      act();
    }
  }
}

customElements.define('hl-console', HlConsole);
