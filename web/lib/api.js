// The REST client: JSON in and out, the session cookie, and errors as ApiError with the
// server's stable code. Usage: const t = await api.get('/api/tickets?open=true');
// A 401 fires `hl-unauthenticated` on window, so the console shows the sign-in form.

export class ApiError extends Error {
  constructor(status, code, message, field) {
    super(message || code);
    this.status = status;
    this.code = code;
    this.field = field || null;
  }
  /** The route is not there (a feature another part of Hotline has not shipped yet). */
  get missing() {
    return this.status === 404 && (this.code === 'not_found' || this.code === 'route');
  }
}

export class Api {
  constructor(base = '') {
    this.base = base;
  }

  async request(method, path, body, headers = {}) {
    const init = { method, credentials: 'same-origin', headers: { Accept: 'application/json', ...headers } };
    if (body !== undefined) {
      init.headers['Content-Type'] = 'application/json';
      init.body = JSON.stringify(body);
    }
    let res;
    try {
      res = await fetch(this.base + path, init);
    } catch (e) {
      throw new ApiError(0, 'network', e.message);
    }
    const text = await res.text();
    let data = null;
    if (text) {
      try {
        data = JSON.parse(text);
      } catch {
        data = text;
      }
    }
    if (!res.ok) {
      const err = (data && data.error) || {};
      if (res.status === 401 && !path.startsWith('/api/auth/login')) {
        window.dispatchEvent(new CustomEvent('hl-unauthenticated'));
      }
      throw new ApiError(res.status, err.code || `http_${res.status}`, err.message || res.statusText, err.field);
    }
    return data;
  }

  get(path) {
    return this.request('GET', path);
  }
  post(path, body = {}) {
    return this.request('POST', path, body);
  }
  /** `version` (the record's `version` as loaded) is sent as If-Match: a record changed
   * meanwhile answers 412 `version_conflict` instead of being overwritten. */
  patch(path, body, version) {
    const headers = version === undefined || version === null ? {} : { 'If-Match': `"${version}"` };
    return this.request('PATCH', path, body, headers);
  }
  put(path, body) {
    return this.request('PUT', path, body);
  }
  del(path, body) {
    return this.request('DELETE', path, body);
  }

  /** GET that answers null instead of failing when the route does not exist. */
  async optional(path) {
    try {
      return await this.get(path);
    } catch (e) {
      if (e.missing || e.status === 405) return null;
      throw e;
    }
  }
}

export const api = new Api();

/** Builds a query string from the defined values of `params`. */
export function query(params) {
  const q = new URLSearchParams();
  for (const [k, v] of Object.entries(params)) {
    if (v !== undefined && v !== null && v !== '') q.set(k, v);
  }
  const s = q.toString();
  return s ? `?${s}` : '';
}
