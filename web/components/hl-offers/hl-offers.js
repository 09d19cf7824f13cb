// <hl-offers> — incoming work offered to this agent (offer.created events): rings (sound and a
// pulsing card with the channel, customer and waiting time) until accepted, rejected, expired
// or withdrawn (offer.closed). A call offer opens the caller's screen pop at once.
// Usage: <hl-offers></hl-offers> once in the console (keys: a = accept, x = reject the first).

import { api } from '../../lib/api.js';
import { html, render } from '../../lib/html.js';
import { fmtDuration, t } from '../../lib/i18n.js';
import { notify, session } from '../../lib/session.js';

const ICONS = { voice: '📞', email: '✉️', sms: '💬', web: '🌐', note: '📝' };

class HlOffers extends HTMLElement {
  connectedCallback() {
    this.offers = new Map();
    this.onEvent = (e) => this.event(e.detail);
    this.onKey = (e) => {
      const first = [...this.offers.values()][0];
      if (!first) return;
      if (e.detail === 'accept') this.answer(first.offer_id, true);
      if (e.detail === 'reject') this.answer(first.offer_id, false);
    };
    window.addEventListener('hl-event', this.onEvent);
    window.addEventListener('hl-shortcut', this.onKey);
    this.tick = setInterval(() => this.offers.size && this.draw(), 1000);
  }

  disconnectedCallback() {
    window.removeEventListener('hl-event', this.onEvent);
    window.removeEventListener('hl-shortcut', this.onKey);
    clearInterval(this.tick);
    this.stopRing();
  }

  async event(ev) {
    const p = ev.payload || {};
    if (ev.kind === 'offer.created' && (ev.user_id === session.user.id || ev.user_id == null)) {
      const offer = { ...p, ticket_id: p.ticket_id ?? ev.ticket_id, customer_id: p.customer_id ?? ev.customer_id };
      this.offers.set(offer.offer_id, offer);
      this.ring();
      this.draw();
      if (offer.customer_id) {
        try {
          const view = await api.get(`/api/customers/${offer.customer_id}`);
          offer.customer = view.customer;
          this.draw();
          if (offer.channel === 'voice' && !(session.screenPop && session.screenPop.at_ms > Date.now() - 10000)) {
            session.screenPop = { view, from: '', at_ms: Date.now(), ticket_id: offer.ticket_id };
            location.hash = '#/pop';
            window.dispatchEvent(new HashChangeEvent('hashchange'));
          }
        } catch {
          /* the card still shows the channel and the wait */
        }
      }
    }
    if (ev.kind === 'offer.closed' && this.offers.has(p.offer_id)) {
      this.offers.delete(p.offer_id);
      if (p.outcome === 'timeout') notify(t('offer.timed_out'));
      if (p.outcome === 'withdrawn') notify(t('offer.withdrawn'));
      this.draw();
    }
  }

  draw() {
    if (!this.offers.size) {
      this.stopRing();
      render(this, '');
      return;
    }
    const now = Date.now();
    render(this, html`${[...this.offers.values()].map((o) => html`
      <section class="offer" role="alertdialog" aria-labelledby="offer-${o.offer_id}-title" data-offer="${o.offer_id}">
        <h2 id="offer-${o.offer_id}-title"><span aria-hidden="true">${ICONS[o.channel] || '🔔'}</span>
          ${t('offer.incoming', { channel: t('channel.' + o.channel) })}</h2>
        <p><strong>${o.customer ? o.customer.display_name : t('offer.unknown_customer')}</strong>
          ${o.customer ? html`<span class="badge ${o.customer.tier}">${t('tier.' + o.customer.tier)}</span>` : ''}
          ${o.queue_id ? html`<span class="muted"> · ${session.queueName(o.queue_id)}</span>` : ''}</p>
        <p class="muted small">${t('offer.waiting', { time: fmtDuration((now - (o.waiting_since_ms || now)) / 1000) })}
          ${o.expires_at_ms ? html` · ${t('offer.expires', { s: Math.max(0, Math.ceil((o.expires_at_ms - now) / 1000)) })}` : ''}
          ${o.ticket_id ? html` · #${o.ticket_id}` : ''}</p>
        <div class="row">
          <button class="ok" data-accept="${o.offer_id}">${t('offer.accept')} <kbd>a</kbd></button>
          <button class="danger" data-reject="${o.offer_id}">${t('offer.reject')} <kbd>x</kbd></button>
        </div>
      </section>`)}`);
    for (const b of this.querySelectorAll('[data-accept]')) b.onclick = () => this.answer(Number(b.dataset.accept), true);
    for (const b of this.querySelectorAll('[data-reject]')) b.onclick = () => this.answer(Number(b.dataset.reject), false);
  }

  async answer(offerId, accept) {
    const offer = this.offers.get(offerId);
    try {
      await session.live.command(accept ? 'accept_offer' : 'reject_offer', { offer_id: offerId });
      this.offers.delete(offerId);
      this.draw();
      if (accept && offer && offer.ticket_id) location.hash = `#/ticket/${offer.ticket_id}`;
    } catch (e) {
      notify(`${t('offer.failed')}: ${e.message}`, 'error');
      if (e.code === 'not_found' || e.code === 'conflict') {
        this.offers.delete(offerId);
        this.draw();
      }
    }
  }

  ring() {
    if (this.ringing) return;
    this.ringing = true;
    try {
      this.audio = this.audio || new AudioContext();
      const beep = () => {
        const ctx = this.audio;
        for (const [start, freq] of [[0, 880], [0.25, 660]]) {
          const o = ctx.createOscillator();
          const g = ctx.createGain();
          o.frequency.value = freq;
          g.gain.setValueAtTime(0.08, ctx.currentTime + start);
          g.gain.exponentialRampToValueAtTime(0.0001, ctx.currentTime + start + 0.22);
          o.connect(g).connect(ctx.destination);
          o.start(ctx.currentTime + start);
          o.stop(ctx.currentTime + start + 0.23);
        }
      };
      beep();
      this.ringTimer = setInterval(beep, 2000);
    } catch {
      /* no audio device: the card still pulses */
    }
  }

  stopRing() {
    this.ringing = false;
    clearInterval(this.ringTimer);
  }
}

customElements.define('hl-offers', HlOffers);
