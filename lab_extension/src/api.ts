/**
 * The platform API as the sidebar sees it.
 *
 * The browser never holds a hub token: every call goes to the user's own Jupyter server
 * (`<server>/mlplat/api/...`, same origin, its XSRF check), which forwards it to the platform API with
 * the server's hub token, the very token the user's kernels use. The API resolves that token to the
 * user and their teams and authorizes in its verbs, so the sidebar can do nothing a notebook cannot.
 */
import { PageConfig, URLExt } from '@jupyterlab/coreutils';
import { ServerConnection } from '@jupyterlab/services';

/** Why a call did not give an answer; `kind` decides what the panel shows. */
export class ApiError extends Error {
  constructor(
    readonly kind: 'down' | 'not-built' | 'refused' | 'invalid' | 'missing' | 'failed',
    message: string,
    readonly status: number = 0
  ) {
    super(message);
  }
}

const settings = ServerConnection.makeSettings();

function url(path: string, query?: Record<string, string | number | undefined>): string {
  const base = URLExt.join(settings.baseUrl, 'mlplat', 'api', path.replace(/^\//, ''));
  const params = Object.entries(query || {}).filter(([, v]) => v !== undefined && v !== '');
  if (!params.length) {
    return base;
  }
  return base + '?' + params.map(([k, v]) => `${encodeURIComponent(k)}=${encodeURIComponent(String(v))}`).join('&');
}

function classify(status: number, body: any): ApiError {
  const message = (body && (body.message || body.detail)) || `the platform API answered ${status}`;
  if (status === 404 && body && body.detail === 'Not Found' && !body.error) {
    // FastAPI's answer for a route that does not exist: that part of the platform is not built yet.
    return new ApiError('not-built', 'not built yet: the platform API has no such route', status);
  }
  if (status === 502 || status === 503 || status === 504) {
    return new ApiError('down', message, status);
  }
  if (status === 401 || status === 403) {
    return new ApiError('refused', message, status);
  }
  if (status === 404) {
    return new ApiError('missing', message, status);
  }
  if (status === 400 || status === 409 || status === 422) {
    return new ApiError('invalid', message, status);
  }
  return new ApiError('failed', message, status);
}

/** One call; resolves to the JSON answer, rejects with an ApiError. */
export async function call<T = any>(
  method: string,
  path: string,
  options: { query?: Record<string, string | number | undefined>; body?: unknown } = {}
): Promise<T> {
  const init: RequestInit = { method };
  if (options.body !== undefined) {
    init.body = JSON.stringify(options.body);
    init.headers = { 'Content-Type': 'application/json' };
  }
  let response: Response;
  try {
    response = await ServerConnection.makeRequest(url(path, options.query), init, settings);
  } catch (error) {
    throw new ApiError('down', `your Jupyter server does not answer (${error})`);
  }
  const text = await response.text();
  let body: any = null;
  try {
    body = text ? JSON.parse(text) : null;
  } catch {
    body = { message: text.slice(0, 200) };
  }
  if (response.status === 404 && !(body && (body.error || body.detail))) {
    throw new ApiError('down', 'the platform proxy is not enabled in this Jupyter server (mlplat.services.lab_proxy)', 404);
  }
  if (!response.ok) {
    throw classify(response.status, body);
  }
  return body as T;
}

export const get = <T = any>(path: string, query?: Record<string, string | number | undefined>): Promise<T> =>
  call<T>('GET', path, { query });

export const post = <T = any>(path: string, body: unknown = {}): Promise<T> => call<T>('POST', path, { body });

/** Where the hub's services live (`/services/`), for links such as the monitoring dashboards. */
export function servicesUrl(): string {
  const hub = PageConfig.getOption('hubPrefix') || '/hub/';
  return hub.replace(/hub\/?$/, '') + 'services/';
}
