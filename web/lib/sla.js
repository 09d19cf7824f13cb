// slaBadge(sla) — a ticket's SLA as a badge: state in words (on time, due soon, overdue, met)
// and the running clock's time left, counted down every second in place. The colours follow
// the state; the words carry it without them. Usage: html`<td>${slaBadge(ticket.sla)}</td>`.

import { html } from './html.js';
import { fmtDuration, t } from './i18n.js';

/** The state at the server's time `now` (as the server computes it). */
function stateAt(sla, now) {
  if (!sla.due_at) return 'met';
  if (now >= sla.due_at) return 'breached';
  if (sla.warning_at && now >= sla.warning_at) return 'warning';
  return 'ok';
}

function text(sla, state, now) {
  if (state === 'met') return t('sla.met');
  const clock = t('sla.' + sla.clock);
  const left = Math.round((sla.due_at - now) / 1000);
  const time = fmtDuration(Math.abs(left));
  return `${t('sla.' + state)} · ${left >= 0 ? t('sla.left', { clock, time }) : t('sla.late', { clock, time })}`;
}

export function slaBadge(sla) {
  if (!sla) return '';
  // The console's clock may be off: count from the server's.
  const skew = Date.now() - sla.now;
  const now = sla.now;
  const state = stateAt(sla, now);
  return html`<span class="badge sla ${state}" data-sla-state="${state}" data-sla-due="${sla.due_at || ''}"
    data-sla-warn="${sla.warning_at || ''}" data-sla-clock="${sla.clock || ''}" data-sla-skew="${skew}">${text(sla, state, now)}</span>`;
}

function tick() {
  for (const el of document.querySelectorAll('.badge.sla[data-sla-due]:not([data-sla-due=""])')) {
    const sla = { due_at: Number(el.dataset.slaDue), warning_at: Number(el.dataset.slaWarn) || null, clock: el.dataset.slaClock };
    const now = Date.now() - Number(el.dataset.slaSkew || 0);
    const state = stateAt(sla, now);
    if (el.dataset.slaState !== state) {
      el.classList.remove(el.dataset.slaState);
      el.classList.add(state);
      el.dataset.slaState = state;
    }
    el.textContent = text(sla, state, now);
  }
}

setInterval(tick, 1000);
