// What the Administration screens (hl-admin-*, hl-audit-log, hl-system-status) share: the
// channels with a capacity, comma lists, modal dialogs that focus their first field and close on
// Escape, and one way to run a change (saved → toast and reload; refused → the localized error).
// Usage: openDialog(this.querySelector('#user-dialog')); await runChange(() => api.post(…), () => this.load());

import { errorText, t } from './i18n.js';
import { notify } from './session.js';

/** Channels work arrives on (capacity is set per channel). */
export const WORK_CHANNELS = ['voice', 'email', 'sms', 'web'];
/** SLA priorities: 0 low … 3 urgent. */
export const PRIORITIES = ['low', 'normal', 'high', 'urgent'];
export const TIERS = ['vip', 'key', 'regular', 'low'];
export const KINDS = ['inquiry', 'request', 'complaint', 'incident', 'callback'];

/** "a, b ,c" → ['a', 'b', 'c'] (blanks dropped). */
export function splitList(text) {
  return String(text || '').split(/[,，\n]/).map((s) => s.trim()).filter(Boolean);
}

/** Shows `dialog` modally and focuses its first field (Escape closes it: the browser's cancel). */
export function openDialog(dialog) {
  if (!dialog.open) dialog.showModal();
  const first = dialog.querySelector('input:not([type=hidden]):not([disabled]), select:not([disabled]), textarea');
  if (first) first.focus();
}

/**
 * Runs one admin change. Saved: a toast (`message`, default "Saved") and `after()`. Refused: the
 * error in the reader's language, naming the field; returns false so a dialog can stay open.
 */
export async function runChange(action, after, message) {
  try {
    const out = await action();
    notify(message || t('common.saved'));
    if (after) await after(out);
    return out ?? true;
  } catch (e) {
    notify(errorText(e), 'error');
    return false;
  }
}

/** Seconds as whole minutes for a form ('' when unset). */
export function minutesOf(secs) {
  return secs === null || secs === undefined ? '' : String(Math.round(secs / 60));
}
