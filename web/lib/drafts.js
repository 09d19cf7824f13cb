// Drafts that survive navigation and reloads: whatever an agent types into a composer or a
// form is kept in localStorage under a key of its own (e.g. `ticket.12`, `new-ticket.7`) until
// it is sent. Usage: const d = drafts.get('ticket.12') || {}; drafts.set('ticket.12', {...d,
// reply: text}); drafts.clear('ticket.12') once sent.

const PREFIX = 'hotline.draft.';
const MAX_AGE_MS = 14 * 86400000;

function read(key) {
  try {
    return JSON.parse(localStorage.getItem(PREFIX + key) || 'null');
  } catch {
    return null;
  }
}

export const drafts = {
  get(key) {
    const d = read(key);
    return d && d.value && typeof d.value === 'object' ? d.value : null;
  },

  /** Stores `value` (an object of strings); an object whose strings are all empty is removed. */
  set(key, value) {
    const empty = !value || Object.values(value).every((v) => v === '' || v === null || v === undefined);
    if (empty) {
      localStorage.removeItem(PREFIX + key);
      return;
    }
    try {
      localStorage.setItem(PREFIX + key, JSON.stringify({ at: Date.now(), value }));
    } catch {
      /* storage full: the draft stays in the page */
    }
  },

  clear(key) {
    localStorage.removeItem(PREFIX + key);
  },

  /** Drops drafts nobody touched for two weeks (run once at start). */
  prune() {
    const now = Date.now();
    for (let i = localStorage.length - 1; i >= 0; i--) {
      const k = localStorage.key(i);
      if (!k || !k.startsWith(PREFIX)) continue;
      const d = read(k.slice(PREFIX.length));
      if (!d || !d.at || now - d.at > MAX_AGE_MS) localStorage.removeItem(k);
    }
  },
};
