// The console's HTTP client: same-origin fetches with the session cookie, the CSRF header on
// every request that changes state, and the contract's error body turned into an ApiError.
import type { ApiErrorBody } from './types';

export class ApiError extends Error {
  readonly status: number;
  readonly code: string;
  readonly details: Record<string, unknown>;
  readonly correlationId: string | null;

  constructor(status: number, body: ApiErrorBody['error'] | null) {
    super(body?.message ?? `The hub answered ${status}. Please try again.`);
    this.status = status;
    this.code = body?.code ?? 'INTERNAL';
    this.details = body?.details ?? {};
    this.correlationId = body?.correlation_id ?? null;
  }
}

let csrfToken: string | null = null;

/** Remembers the session's CSRF token from `/api/v1/me` for later writes. */
export function setCsrfToken(token: string | null): void {
  csrfToken = token;
}

type Query = Record<string, string | number | boolean | undefined | null>;

export function withQuery(path: string, query?: Query): string {
  if (!query) return path;
  const params = new URLSearchParams();
  for (const [key, value] of Object.entries(query)) {
    if (value !== undefined && value !== null && value !== '') params.set(key, String(value));
  }
  const text = params.toString();
  return text ? `${path}?${text}` : path;
}

async function request<T>(method: string, path: string, body?: unknown, headers?: Record<string, string>): Promise<T> {
  const init: RequestInit = { method, credentials: 'same-origin', headers: { Accept: 'application/json', ...headers } };
  const h = init.headers as Record<string, string>;
  if (method !== 'GET' && csrfToken) h['X-CSRF-Token'] = csrfToken;
  if (body !== undefined) {
    h['Content-Type'] = 'application/json';
    init.body = JSON.stringify(body);
  }
  let response: Response;
  try {
    response = await fetch(path, init);
  } catch {
    throw new ApiError(0, {
      code: 'NETWORK',
      message: 'The hub cannot be reached. Check your connection and try again.',
      details: {},
      correlation_id: '',
    });
  }
  if (response.status === 204) return undefined as T;
  const text = await response.text();
  let parsed: unknown = null;
  if (text) {
    try {
      parsed = JSON.parse(text);
    } catch {
      parsed = null;
    }
  }
  if (!response.ok) {
    const err = (parsed as ApiErrorBody | null)?.error ?? null;
    throw new ApiError(response.status, err);
  }
  return parsed as T;
}

export const api = {
  get: <T>(path: string, query?: Query) => request<T>('GET', withQuery(path, query)),
  post: <T>(path: string, body?: unknown) => request<T>('POST', path, body),
  put: <T>(path: string, body: unknown) => request<T>('PUT', path, body),
  patch: <T>(path: string, body: unknown, headers?: Record<string, string>) => request<T>('PATCH', path, body, headers),
};

/** Reads every page of a cursor-paged list. */
export async function getAllPages<T>(path: string, query: Query): Promise<T[]> {
  const items: T[] = [];
  let cursor: string | null | undefined;
  for (let page = 0; page < 50; page++) {
    const res = await api.get<{ items: T[]; next_cursor?: string | null }>(path, { ...query, cursor });
    items.push(...res.items);
    cursor = res.next_cursor;
    if (!cursor) break;
  }
  return items;
}
