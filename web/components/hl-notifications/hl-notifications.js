// <hl-notifications> — the bell in the console's top bar: a badge with the unseen mentions
// (GET /api/notifications, live `notification` events for this user), a list that opens on
// click (opening it marks them seen, POST /api/notifications/seen), and the button that asks
// for desktop notifications (the browser only asks from a click). New mentions and ringing
// offers raise a desktop notification when allowed, and the tab title counts what is unseen
// ("(2) Hotline": unseen mentions + ringing offers) until it is seen.
// Usage: <hl-notifications></hl-notifications> once in the top bar.

import { api } from '../../lib/api.js';
import { html, render } from '../../lib/html.js';
import { enumText, errorText, fmtDateTime, t } from '../../lib/i18n.js';
import { icon } from '../../lib/icons.js';
import { notify, session } from '../../lib/session.js';

const TITLE = 'Hotline';

/** A notification's title line: who mentioned one, a low satisfaction score's follow-up, or a
 * complaint's step due soon or late (its facts are data: words in the reader's language). */
function headline(n) {
  if (n.kind === 'survey_low') return t('notify.survey_low', { ticket: n.ticket_id });
  if (n.kind === 'complaint_reminder') {
    const d = n.data || {};
    const key = d.point < 0 ? 'notify.complaint_due_soon' : 'notify.complaint_late';
    return t(key, { ticket: n.ticket_id, step: enumText('complaint.step', d.step), due: fmtDateTime(d.due) });
  }
  return t('notify.mentioned', { who: n.actor_name || t('notify.someone'), n: n.ticket_id });
}

/** Shows a desktop notification when the user allowed them; clicking it opens `hash`. */
export function desktopNotify(title, body, hash, tag) {
  if (!('Notification' in window) || Notification.permission !== 'granted') return;
  try {
    const n = new Notification(title, { body, tag, lang: document.documentElement.lang || undefined });
    n.onclick = () => {
      window.focus();
      if (hash) location.hash = hash;
      n.close();
    };
  } catch {
    /* some browsers allow notifications only from a service worker: the title still counts */
  }
}

class HlNotifications extends HTMLElement {
  connectedCallback() {
    // The list outlives this element (the shell is redrawn on a language change).
    this.state = session.notifications || (session.notifications = { items: [], unseen: 0, next: null, loaded: false });
    this.open = false;
    this.onEvent = (e) => this.event(e.detail);
    this.onOffers = () => this.title();
    this.onKey = (e) => {
      if (e.key === 'Escape' && this.open) this.toggle(false);
    };
    this.onOutside = (e) => {
      if (this.open && !this.contains(e.target)) this.toggle(false);
    };
    window.addEventListener('hl-event', this.onEvent);
    window.addEventListener('hl-offers-changed', this.onOffers);
    this.onReload = () => this.load();
    window.addEventListener('hl-reload', this.onReload);
    document.addEventListener('keydown', this.onKey);
    document.addEventListener('click', this.onOutside);
    this.draw();
    if (!this.state.loaded) this.load();
  }

  disconnectedCallback() {
    window.removeEventListener('hl-event', this.onEvent);
    window.removeEventListener('hl-offers-changed', this.onOffers);
    window.removeEventListener('hl-reload', this.onReload);
    document.removeEventListener('keydown', this.onKey);
    document.removeEventListener('click', this.onOutside);
  }

  async load() {
    try {
      const page = await api.get('/api/notifications?limit=20');
      Object.assign(this.state, { items: page.items, unseen: page.unseen, next: page.next, loaded: true });
      this.draw();
    } catch {
      /* signed out meanwhile: the console shows the sign-in */
    }
  }

  event(ev) {
    if (ev.user_id !== session.user.id) return;
    const p = ev.payload || {};
    if (ev.kind === 'notification' && p.notification) {
      const n = p.notification;
      if (this.state.items.some((x) => x.id === n.id)) return;
      this.state.items.unshift(n);
      this.state.unseen += 1;
      this.draw();
      notify(headline(n));
      desktopNotify(headline(n), n.excerpt, `#/ticket/${n.ticket_id}`, `${n.kind}-${n.id}`);
      if (this.open) this.markSeen();
    }
    if (ev.kind === 'notification.seen') {
      const ids = p.ids;
      for (const n of this.state.items) if (!ids || ids.includes(n.id)) n.seen_at = n.seen_at || ev.at_ms;
      this.state.unseen = p.unseen ?? 0;
      this.draw();
    }
    if (ev.kind === 'offer.created') {
      const o = p;
      desktopNotify(t('notify.offer', { channel: t('channel.' + o.channel) }),
        o.customer_name || o.phone || o.ticket_subject || '', o.ticket_id ? `#/ticket/${o.ticket_id}` : '', `offer-${o.offer_id}`);
      this.title();
    }
  }

  /** "(n) Hotline" while mentions are unseen or offers ring. */
  title() {
    const n = this.state.unseen + (session.offers ? session.offers.size : 0);
    document.title = n > 0 ? `(${n}) ${TITLE}` : TITLE;
  }

  permission() {
    if (!('Notification' in window)) return 'unsupported';
    return Notification.permission;
  }

  draw() {
    const s = this.state;
    const perm = this.permission();
    render(this, html`
      <button type="button" class="bell" id="bell" aria-haspopup="true" aria-expanded="${this.open ? 'true' : 'false'}"
        aria-controls="notifications-panel" title="${t('notify.title')}">
        ${icon('bell')}<span class="sr-only">${t('notify.title')}</span>
        <span class="bell-count" id="bell-count" ${s.unseen ? '' : 'hidden'} aria-label="${t('notify.unseen', { n: s.unseen })}">${s.unseen}</span>
      </button>
      <div class="notifications-panel panel" id="notifications-panel" role="region" aria-label="${t('notify.title')}" ${this.open ? '' : 'hidden'}>
        <div class="row"><strong class="grow">${t('notify.title')}</strong>
          ${perm === 'default' ? html`<button type="button" id="desktop-enable" class="small">${t('notify.enable_desktop')}</button>` : ''}
          ${perm === 'granted' ? html`<span class="small muted" id="desktop-state">${t('notify.desktop_on')}</span>` : ''}
          ${perm === 'denied' ? html`<span class="small muted" id="desktop-state">${t('notify.desktop_denied')}</span>` : ''}</div>
        ${s.items.length ? html`<ul class="notification-list" id="notification-list">${s.items.map((n) => html`
          <li class="${n.seen_at ? '' : 'unseen'}" data-id="${n.id}">
            <a href="#/ticket/${n.ticket_id}"><strong>${headline(n)}</strong></a>
            <div class="small">${n.ticket_subject}</div>
            ${n.excerpt ? html`<div class="small muted preview">${n.excerpt}</div>` : ''}
            <div class="small muted">${fmtDateTime(n.created_at)}</div></li>`)}</ul>
          ${s.next ? html`<button type="button" id="more-notifications" class="small">${t('notify.more')}</button>` : ''}`
          : html`<p class="empty small">${t('notify.none')}</p>`}
      </div>`);
    this.querySelector('#bell').onclick = (e) => {
      e.stopPropagation();
      this.toggle(!this.open);
    };
    this.querySelector('#desktop-enable')?.addEventListener('click', async () => {
      try {
        await Notification.requestPermission();
      } catch {
        /* an old browser: the callback form is not worth supporting */
      }
      this.draw();
    });
    this.querySelector('#more-notifications')?.addEventListener('click', () => this.more());
    for (const a of this.querySelectorAll('#notification-list a')) a.addEventListener('click', () => this.toggle(false));
    this.title();
  }

  toggle(open) {
    this.open = open;
    this.draw();
    if (open) {
      this.querySelector('#notifications-panel a, #notifications-panel button')?.focus();
      this.markSeen();
    } else if (this.contains(document.activeElement) || document.activeElement === document.body) {
      this.querySelector('#bell')?.focus();
    }
  }

  async markSeen() {
    if (!this.state.unseen) return;
    try {
      const r = await api.post('/api/notifications/seen', {});
      this.state.unseen = r.unseen;
      this.title();
      // The list keeps its highlight while open; the badge goes at once.
      const count = this.querySelector('#bell-count');
      if (count) count.hidden = !r.unseen;
    } catch (e) {
      notify(errorText(e), 'error');
    }
  }

  async more() {
    try {
      const page = await api.get(`/api/notifications?limit=20&before_id=${this.state.next}`);
      this.state.items = this.state.items.concat(page.items);
      this.state.next = page.next;
      this.draw();
    } catch (e) {
      notify(errorText(e), 'error');
    }
  }
}

customElements.define('hl-notifications', HlNotifications);
