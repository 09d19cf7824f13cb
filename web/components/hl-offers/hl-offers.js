// <hl-offers> — incoming work offered to this agent (offer.created events): rings (sound and a
// pulsing card naming the customer and the ticket, with the waiting time) until accepted,
// rejected, expired or withdrawn (offer.closed). It sits in a band under the top bar (part of
// the layout, never over other controls). A call offer opens the caller's screen pop at once;
// a callback is offered as a callback (who, why, due time, attempts) and pops nothing.
// The ringing offers are in session.offers (the pop view names the one it belongs to).
// The band is drawn when offers come and go (keeping the focused button focused); every second
// only the waiting/countdown text changes (aria-live off), so keyboard focus stays where it is
// and screen readers do not announce the card again.
// Usage: <hl-offers></hl-offers> once in the console (keys: a = accept, x = reject the first).

import { api } from '../../lib/api.js';
import { html, render } from '../../lib/html.js';
import { errorText, fmtDateTime, fmtDuration, subjectText, systemText, t } from '../../lib/i18n.js';
import { channelIcon, icon } from '../../lib/icons.js';
import { notify, session } from '../../lib/session.js';

/** Who an offer is for: the customer's name, else the number, else "unknown customer". */
export function offerWho(o) {
  return o.customer_name || (o.customer && o.customer.display_name) || o.phone || t('offer.unknown_customer');
}

/** The offer's ticket as "#12 Subject". */
export function offerTicket(o) {
  if (!o.ticket_id) return '';
  const subject = subjectText({ subject: o.ticket_subject || '', subject_data: o.ticket_subject_data });
  return subject ? `#${o.ticket_id} ${subject}` : `#${o.ticket_id}`;
}

class HlOffers extends HTMLElement {
  connectedCallback() {
    // The ringing offers outlive this element (the shell is redrawn, e.g. on a language change).
    this.offers = session.offers || new Map();
    session.offers = this.offers;
    this.onEvent = (e) => this.event(e.detail);
    this.onKey = (e) => {
      const first = [...this.offers.values()][0];
      if (!first) return;
      if (e.detail === 'accept') this.answer(first.offer_id, true);
      if (e.detail === 'reject') this.answer(first.offer_id, false);
    };
    window.addEventListener('hl-event', this.onEvent);
    window.addEventListener('hl-shortcut', this.onKey);
    this.tick = setInterval(() => this.offers.size && this.countdown(), 1000);
    if (this.offers.size) {
      this.ring();
      this.draw();
    }
  }

  disconnectedCallback() {
    window.removeEventListener('hl-event', this.onEvent);
    window.removeEventListener('hl-shortcut', this.onKey);
    clearInterval(this.tick);
    this.stopRing();
  }

  async event(ev) {
    const p = ev.payload || {};
    if (ev.kind === 'offer.created' && ev.user_id === session.user.id) {
      const offer = { ...p, ticket_id: p.ticket_id ?? ev.ticket_id, customer_id: p.customer_id ?? ev.customer_id };
      this.offers.set(offer.offer_id, offer);
      this.ring();
      this.draw();
      window.dispatchEvent(new CustomEvent('hl-offers-changed'));
      if (offer.ticket_id && offer.ticket_subject === undefined) {
        // Servers without the subject in the offer: read it, so the card names its ticket.
        api.get(`/api/tickets/${offer.ticket_id}`).then((v) => {
          offer.ticket_subject = v.ticket.subject;
          offer.ticket_subject_data = v.ticket.subject_data ?? null;
          this.draw();
          window.dispatchEvent(new CustomEvent('hl-offers-changed'));
        }).catch(() => {});
      }
      if (offer.customer_id) {
        try {
          const view = await api.get(`/api/customers/${offer.customer_id}`);
          offer.customer = view.customer;
          this.draw();
          const call = offer.channel === 'voice' && offer.kind !== 'callback';
          if (call && !(session.screenPop && session.screenPop.at_ms > Date.now() - 10000)) {
            session.screenPop = { view, from: offer.phone || '', at_ms: Date.now(), ticket_id: offer.ticket_id, offer_id: offer.offer_id };
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
      window.dispatchEvent(new CustomEvent('hl-offers-changed'));
    }
  }

  /** "Waiting 0:12 · rings 8 s more" for one offer at `now`. */
  clock(o, now) {
    const waiting = t('offer.waiting', { time: fmtDuration((now - (o.waiting_since_ms || now)) / 1000) });
    return o.expires_at_ms ? `${waiting} · ${t('offer.expires', { s: Math.max(0, Math.ceil((o.expires_at_ms - now) / 1000)) })}` : waiting;
  }

  /** Every second: only the clocks' text, nothing else of the band. */
  countdown() {
    const now = Date.now();
    for (const el of this.querySelectorAll('.offer-clock')) {
      const o = this.offers.get(Number(el.dataset.clock));
      if (!o) continue;
      const text = this.clock(o, now);
      if (el.textContent !== text) el.textContent = text;
    }
  }

  draw() {
    if (!this.offers.size) {
      this.stopRing();
      render(this, '');
      return;
    }
    const now = Date.now();
    // A redraw (an offer came, its customer was read) keeps the focused button focused.
    const active = this.contains(document.activeElement) ? document.activeElement : null;
    const focusKey = active && (active.dataset.accept ? `[data-accept="${active.dataset.accept}"]`
      : active.dataset.reject ? `[data-reject="${active.dataset.reject}"]` : null);
    render(this, html`<div class="offers-band">${[...this.offers.values()].map((o) => {
      const callback = o.kind === 'callback';
      return html`
      <section class="offer ${callback ? 'callback' : ''}" role="alertdialog" aria-labelledby="offer-${o.offer_id}-title"
        data-offer="${o.offer_id}" data-ticket="${o.ticket_id ?? ''}" data-kind="${o.kind || ''}">
        <h2 id="offer-${o.offer_id}-title">${callback ? icon('callback') : channelIcon(o.channel)}
          ${callback ? t('offer.callback') : t('offer.incoming', { channel: t('channel.' + o.channel) })}
          <span class="offer-who">${offerWho(o)}</span>
          ${o.customer ? html`<span class="badge ${o.customer.tier}">${t('tier.' + o.customer.tier)}</span>` : ''}</h2>
        <p class="offer-what small">${o.ticket_id ? html`<a href="#/ticket/${o.ticket_id}" class="offer-ticket">${offerTicket(o)}</a>` : ''}
          ${o.queue_id ? html`<span class="muted"> · ${session.queueName(o.queue_id)}</span>` : ''}</p>
        ${callback ? html`<p class="small offer-callback">
          ${o.phone ? html`<span class="ident">${o.phone}</span> · ` : ''}${o.note ? html`${t('callback.why')}: ${systemText(o.note_data, o.note)} · ` : ''}
          ${o.callback_due_ms ? html`${t('callback.due')}: ${fmtDateTime(o.callback_due_ms)} · ` : ''}
          ${t('callback.attempts', { n: o.attempts ?? 0 })}</p>` : ''}
        <p class="muted small offer-clock" aria-live="off" data-clock="${o.offer_id}">${this.clock(o, now)}</p>
        <div class="row">
          <button class="ok" data-accept="${o.offer_id}">${t('offer.accept')} <kbd>a</kbd></button>
          <button class="danger" data-reject="${o.offer_id}">${t('offer.reject')} <kbd>x</kbd></button>
        </div>
      </section>`;
    })}</div>`);
    for (const b of this.querySelectorAll('[data-accept]')) b.onclick = () => this.answer(Number(b.dataset.accept), true);
    for (const b of this.querySelectorAll('[data-reject]')) b.onclick = () => this.answer(Number(b.dataset.reject), false);
    if (focusKey) this.querySelector(focusKey)?.focus();
  }

  async answer(offerId, accept) {
    const offer = this.offers.get(offerId);
    try {
      await session.live.command(accept ? 'accept_offer' : 'reject_offer', { offer_id: offerId });
      this.offers.delete(offerId);
      this.draw();
      if (accept && offer && offer.ticket_id) location.hash = `#/ticket/${offer.ticket_id}`;
    } catch (e) {
      notify(`${t('offer.failed')}: ${errorText(e)}`, 'error');
      if (e.code === 'not_found' || e.code === 'conflict') {
        this.offers.delete(offerId);
        this.draw();
      }
    }
    window.dispatchEvent(new CustomEvent('hl-offers-changed'));
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
