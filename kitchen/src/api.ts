/**
 * The Tabletop API as the kitchen display uses it: login and refresh (docs/auth.md), the
 * staff's memberships, the restaurant's name, a Convex token for the restaurant, and the
 * order status moves. Postgres is the truth: the display never writes to Convex.
 */

export type Membership = { restaurant_id: string; role: string };
export type Me = { id: string; email: string; full_name: string | null; memberships: Membership[] };

/** A problem+json answer, or a network failure (status 0). */
export class ApiProblem extends Error {
  constructor(
    readonly status: number,
    readonly code: string,
    message: string,
  ) {
    super(message);
  }
}

type Tokens = { access_token: string; refresh_token: string; expires_in: number };

// The refresh token outlives a reload (a kitchen screen is reloaded, not logged into, each
// shift); the access token lives in memory only.
const REFRESH_KEY = "tabletop.kitchen.refresh";

export class Api {
  private access: string | null = null;
  private refreshing: Promise<boolean> | null = null;

  constructor(readonly baseUrl: string) {}

  get hasSession(): boolean {
    return this.access !== null || localStorage.getItem(REFRESH_KEY) !== null;
  }

  async login(email: string, password: string): Promise<void> {
    const tokens = (await this.call("POST", "/api/auth/login", { email, password }, false)) as Tokens;
    this.keep(tokens);
  }

  logout(): void {
    this.access = null;
    localStorage.removeItem(REFRESH_KEY);
  }

  me(): Promise<Me> {
    return this.call("GET", "/api/auth/me") as Promise<Me>;
  }

  async restaurantName(rid: string): Promise<string> {
    const restaurant = (await this.call("GET", `/api/restaurants/${rid}`)) as { name: string };
    return restaurant.name;
  }

  async convexToken(rid: string): Promise<string> {
    const answer = (await this.call("POST", `/api/restaurants/${rid}/convex-token`)) as { token: string };
    return answer.token;
  }

  /** The staff move (`POST .../orders/{oid}/status`); the card moves when Convex says so. */
  async move(rid: string, orderId: string, status: string): Promise<void> {
    await this.call("POST", `/api/restaurants/${rid}/orders/${orderId}/status`, { status });
  }

  private keep(tokens: Tokens): void {
    this.access = tokens.access_token;
    localStorage.setItem(REFRESH_KEY, tokens.refresh_token);
  }

  /** A new access token from the stored refresh token (which works once); false: log in again. */
  private refresh(): Promise<boolean> {
    this.refreshing ??= (async () => {
      const refresh_token = localStorage.getItem(REFRESH_KEY);
      if (refresh_token === null) return false;
      try {
        this.keep((await this.call("POST", "/api/auth/refresh", { refresh_token }, false)) as Tokens);
        return true;
      } catch (error) {
        if (error instanceof ApiProblem && error.status === 401) this.logout();
        return false;
      } finally {
        this.refreshing = null;
      }
    })();
    return this.refreshing;
  }

  private async call(method: string, path: string, body?: unknown, authed = true): Promise<unknown> {
    if (authed && this.access === null && !(await this.refresh())) {
      throw new ApiProblem(401, "logged_out", "Log in again");
    }
    try {
      return await request(this.baseUrl, method, path, body, authed ? this.access : null);
    } catch (error) {
      // An access token lasts 15 minutes: on 401 refresh once and repeat the call.
      if (!(error instanceof ApiProblem && error.status === 401 && authed && (await this.refresh()))) throw error;
      return await request(this.baseUrl, method, path, body, this.access);
    }
  }
}

/** One call to the API: its JSON answer, or an ApiProblem (status 0: the API is unreachable). */
export async function request(
  baseUrl: string,
  method: string,
  path: string,
  body?: unknown,
  bearer: string | null = null,
): Promise<unknown> {
  const headers: Record<string, string> = {};
  if (body !== undefined) headers["Content-Type"] = "application/json";
  if (bearer !== null) headers["Authorization"] = `Bearer ${bearer}`;
  let answer: Response;
  try {
    answer = await fetch(`${baseUrl}${path}`, {
      method,
      headers,
      body: body === undefined ? undefined : JSON.stringify(body),
    });
  } catch {
    throw new ApiProblem(0, "unreachable", "The Tabletop API cannot be reached");
  }
  const text = await answer.text();
  let parsed: unknown = null;
  try {
    parsed = text === "" ? null : JSON.parse(text);
  } catch {
    // Not JSON (a proxy's error page): the status says enough.
  }
  if (!answer.ok) {
    const problem = (parsed ?? {}) as { code?: string; detail?: string; title?: string };
    throw new ApiProblem(answer.status, problem.code ?? "error", problem.detail ?? problem.title ?? `HTTP ${answer.status}`);
  }
  return parsed;
}
