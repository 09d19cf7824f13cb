// Calls in the console: what this installation can do with calls (dial, hold, transfer, from
// GET /api/calls/capabilities), click-to-call, the disposition codes and a call's summary line
// (outcome, duration, wait, agent, code) for the history and the ticket timeline.
// Usage: const cap = await callCapabilities(); dialButton('dial', number, cap);
//        await dial(number); callSummary(item.call); dispositionName(code)

import { api } from './api.js';
import { html } from './html.js';
import { enumText, errorText, fmtDuration, i18n, t } from './i18n.js';
import { icon } from './icons.js';
import { notify, session } from './session.js';

let capabilities = null;
let codes = null;

/** What the console may offer; asked once per page (configuration changes need a restart). */
export function callCapabilities() {
  if (!capabilities) {
    capabilities = api.get('/api/calls/capabilities').catch(() => ({
      dial: { available: false, reason: 'not_configured' },
      hold: { available: false, reason: 'not_configured' },
      transfer: { available: false, reason: 'not_configured' },
    }));
  }
  return capabilities;
}

/** The active disposition codes, in order (cached; `refresh` after the admin changed them). */
export function dispositionCodes(refresh = false) {
  if (!codes || refresh) codes = api.get('/api/call-dispositions').catch(() => []);
  return codes;
}

/** A code's name in the reader's language. */
export function dispositionName(d) {
  if (!d) return '';
  return (i18n.locale === 'zh-CN' ? d.name_zh : d.name_en) || d.code;
}

/** Why a call control is not offered, in the reader's language. */
export function unavailableText(control, reason) {
  return t(`calls.unavailable.${reason || 'not_configured'}`, { what: t(`calls.control.${control}`) });
}

/**
 * The Dial button for `number`: enabled when Twilio or the PBX can place the call, else
 * disabled with the reason beside it (and as its tooltip).
 */
export function dialButton(id, number, cap, label = t('callback.dial')) {
  const c = cap && cap.dial;
  if (!number) return '';
  if (c && c.available) {
    return html`<button type="button" class="primary" id="${id}" data-dial="${number}">${icon('voice')} ${label}</button>`;
  }
  const why = unavailableText('dial', c && c.reason);
  return html`<button type="button" id="${id}" disabled title="${why}" aria-describedby="${id}-why">${icon('voice')} ${label}</button>
    <span class="small muted" id="${id}-why">${why}</span>`;
}

/**
 * Why `control` cannot be used on `call` now ('' when it can): not offered here at all, or
 * (transfer through Twilio) only for an incoming Twilio call while talking.
 */
export function controlBlocked(control, cap, call) {
  const c = cap && cap[control];
  if (!c || !c.available) return unavailableText(control, c && c.reason);
  if (control === 'transfer' && !(call && call.source === 'twilio' && call.direction === 'in' && call.state === 'talking')) {
    return unavailableText(control, 'transfer_incoming_twilio');
  }
  return '';
}

/** Hold and transfer for `call`: offered only where what carries it supports them; else why not. */
export function callControls(cap, call) {
  const reasons = [];
  const buttons = ['hold', 'transfer'].map((k) => {
    const why = controlBlocked(k, cap, call);
    if (why) reasons.push(why);
    return why
      ? html`<button type="button" class="small" data-call-control="${k}" disabled title="${why}">${t(`calls.control.${k}`)}</button>`
      : html`<button type="button" class="small" data-call-control="${k}">${t(`calls.control.${k}`)}</button>`;
  });
  return html`<span class="call-controls">${buttons}<span class="small muted" data-controls-why>${reasons.join(' ')}</span></span>`;
}

/** Puts a talking Twilio caller through to another agent; the call or null (after saying why). */
export async function transferCall(callId, userId) {
  try {
    const call = await api.post(`/api/calls/${callId}/transfer`, { user_id: userId });
    notify(t('calls.transferred', { name: session.userName(userId) }));
    return call;
  } catch (e) {
    notify(errorText(e), 'error');
    return null;
  }
}

/**
 * Places a call to `number` (the ticket's callback gets it): through Twilio the agent's phone
 * rings first; through the PBX the agent's softphone opens the `tel:` link.
 */
export async function dial(number) {
  try {
    const d = await api.post('/api/calls/dial', { number });
    if (d.via === 'pbx' && d.uri) {
      const a = document.createElement('a');
      a.href = d.uri;
      a.click();
    }
    notify(t('callback.dialling', { number: d.number || number }));
    window.dispatchEvent(new CustomEvent('hl-dialled', { detail: d }));
    return d;
  } catch (e) {
    notify(errorText(e), 'error');
    return null;
  }
}

/** The summary of a call for a history line or the timeline. */
export function callSummary(call) {
  if (!call) return '';
  const parts = [html`<span class="badge call-outcome ${call.outcome}" data-outcome="${call.outcome}">${enumText('calls.outcome', call.outcome)}</span>`];
  if (call.duration_ms != null) parts.push(html`<span>${t('call.duration')} ${fmtDuration(call.duration_ms / 1000)}</span>`);
  if (call.wait_ms != null) parts.push(html`<span>${t('calls.wait')} ${fmtDuration(call.wait_ms / 1000)}</span>`);
  if (call.agent_id != null) parts.push(html`<span>${t('calls.agent')} ${call.agent_name || session.userName(call.agent_id)}</span>`);
  if (call.disposition) parts.push(html`<span class="badge disposition" data-disposition="${call.disposition.code}">${dispositionName(call.disposition)}</span>`);
  return html`<span class="call-summary small">${parts.map((p, i) => html`${i ? ' · ' : ''}${p}`)}</span>`;
}

/** May the signed-in user pick the code of `call`? Its agent, or a supervisor. */
export function mayDispose(call) {
  return !!call && (session.supervisor || call.agent_id === session.user.id)
    && ['talking', 'wrap_up', 'ended', 'abandoned'].includes(call.state);
}

/** Stores the code on the call; returns the call or null (after saying why). */
export async function setDisposition(callId, dispositionId) {
  try {
    const call = await api.post(`/api/calls/${callId}/disposition`, { disposition_id: dispositionId });
    notify(t('calls.disposition_saved'));
    return call;
  } catch (e) {
    notify(errorText(e), 'error');
    return null;
  }
}
