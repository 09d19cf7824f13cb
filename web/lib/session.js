// The signed-in user's world: who they are, the queues and users (for names), the live
// connection, and the last screen pop. One instance (`session`) shared by the console's parts.
// Usage: await session.load(); session.queueName(3); session.live.addEventListener('event', …)

import { api } from './api.js';
import { setTimeZone } from './i18n.js';
import { LiveClient } from './ws.js';

export class Session extends EventTarget {
  constructor() {
    super();
    this.user = null;
    this.queues = [];
    this.users = [];
    this.live = new LiveClient('/ws');
    this.screenPop = null;
  }

  async load() {
    this.user = await api.get('/api/auth/me');
    setTimeZone(this.user.time_zone);
    const [queues, users] = await Promise.all([
      api.get('/api/queues').catch(() => []),
      api.get('/api/users').catch(() => []),
    ]);
    this.queues = Array.isArray(queues) ? queues : queues.items || [];
    this.users = Array.isArray(users) ? users : users.items || [];
    return this.user;
  }

  get admin() {
    return !!this.user && this.user.role === 'admin';
  }
  get supervisor() {
    return !!this.user && (this.user.role === 'supervisor' || this.user.role === 'admin');
  }

  queueName(id) {
    const q = this.queues.find((x) => x.id === id);
    return q ? q.name : id ? `#${id}` : '';
  }

  userName(id) {
    const u = this.users.find((x) => x.id === id);
    return u ? u.display_name || u.login : id ? `#${id}` : '';
  }

  /** Queues the user works (all of them for supervisors; membership when the API tells it). */
  myQueues() {
    if (this.supervisor) return this.queues;
    return this.queues.filter((q) => !Array.isArray(q.members) || q.members.includes(this.user.id));
  }
}

export const session = new Session();

/** A short message at the bottom of the screen. */
export function notify(message, kind = 'info') {
  // One stack for every toast: two at once (a saved change and an assignment) sit one above the
  // other instead of on top of each other.
  let stack = document.getElementById('toasts');
  if (!stack) {
    stack = document.createElement('div');
    stack.id = 'toasts';
    document.body.append(stack);
  }
  const el = document.createElement('div');
  el.className = `toast ${kind}`;
  el.setAttribute('role', kind === 'error' ? 'alert' : 'status');
  el.textContent = message;
  stack.append(el);
  setTimeout(() => el.remove(), kind === 'error' ? 6000 : 3000);
}

const customerNames = new Map();
const pending = new Map();

/** Display names of customers by id, fetched once each (for lists that carry only ids). */
export async function loadCustomerNames(ids) {
  await Promise.all([...new Set(ids.filter((id) => id && !customerNames.has(id)))].map((id) => {
    if (!pending.has(id)) {
      pending.set(id, api.get(`/api/customers/${id}`)
        .then((v) => customerNames.set(id, { name: v.customer.display_name, tier: v.customer.tier }))
        .catch(() => customerNames.set(id, { name: `#${id}`, tier: 'regular' }))
        .finally(() => pending.delete(id)));
    }
    return pending.get(id);
  }));
  return customerNames;
}
