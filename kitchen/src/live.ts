/**
 * One Convex connection as the display's pages use it: the client authenticates with tokens
 * from the Tabletop API (asked again before each expires; with backoff while the API cannot
 * answer), and a status element says whether what the page shows is live, offline (for how
 * long, and how old the shown data is) or refused. The kitchen board and the guest tracker
 * both run on it.
 */
import { ConvexClient } from "convex/browser";
import type { ConnectionState } from "convex/browser";
import { ApiProblem } from "./api";
import { elapsed } from "./board";

export type LiveOptions = {
  convexUrl: string;
  /** A fresh Convex token from the API (it throws ApiProblem when the API refuses). */
  token: () => Promise<string>;
  /** The API said 401/403/404 to a token request: the page's session is over. */
  ended: (problem: ApiProblem) => void;
  /** The element whose text and data-state tell the connection's state. */
  status: HTMLElement;
  /** What the page shows, in the status text ("orders", "your order"). */
  what: string;
};

export class Live {
  readonly client: ConvexClient;
  private lastResult: Date | null = null;
  private offlineSince: Date | null = null;
  private authRefused = false;
  private tokenTrouble: string | null = null;
  private closed = false;
  private readonly timer: ReturnType<typeof setInterval>;

  constructor(
    private readonly options: LiveOptions,
    private readonly everySecond: () => void = () => undefined,
  ) {
    this.client = new ConvexClient(options.convexUrl, { unsavedChangesWarning: false });
    this.authenticate();
    this.client.subscribeToConnectionState((state) => this.paint(state));
    this.timer = setInterval(() => {
      this.everySecond();
      this.paint(this.client.connectionState());
    }, 1000);
  }

  /** A query result arrived: what the page shows is as of now. */
  received(): void {
    this.lastResult = new Date();
    this.paint(this.client.connectionState());
  }

  close(): void {
    this.closed = true;
    clearInterval(this.timer);
    void this.client.close();
  }

  // The client calls this again before the token expires (and with forceRefreshToken when the
  // server refuses one): every call asks the API for a fresh token (they are cheap). The API
  // unreachable or overloaded: keep asking with backoff, never answer null, which would leave
  // the client unauthenticated for good; the current token works meanwhile.
  private readonly fetchToken = async (): Promise<string | null> => {
    for (let delay = 1000; !this.closed; delay = Math.min(delay * 2, 30_000)) {
      try {
        return await this.options.token();
      } catch (error) {
        if (error instanceof ApiProblem && [401, 403, 404].includes(error.status)) {
          this.close();
          this.options.ended(error);
          return null;
        }
        this.tokenTrouble = error instanceof Error ? error.message : String(error);
        this.paint(this.client.connectionState());
        await new Promise((resolve) => setTimeout(resolve, delay));
      }
    }
    return null;
  };

  private authenticate(): void {
    this.client.setAuth(this.fetchToken, (authenticated) => {
      this.authRefused = !authenticated;
      if (authenticated) this.tokenTrouble = null;
      this.paint(this.client.connectionState());
      // Refused even after a fresh token (keys rotating, clocks apart): try again shortly.
      if (!authenticated && !this.closed) setTimeout(() => this.authenticate(), 5000);
    });
  }

  private paint(state: ConnectionState): void {
    const now = Date.now();
    if (state.isWebSocketConnected) this.offlineSince = null;
    else if (state.hasEverConnected) this.offlineSince ??= new Date();
    const what = this.options.what;
    const asOf =
      this.lastResult === null ? "nothing received yet" : `${what} as of ${this.lastResult.toLocaleTimeString()}`;
    let mode: string;
    let text: string;
    if (this.authRefused) {
      mode = "refused";
      text = `Convex refused the token; trying again shortly (${asOf})`;
    } else if (!state.hasEverConnected) {
      mode = "connecting";
      text = `Connecting to ${this.options.convexUrl}…`;
    } else if (this.offlineSince !== null) {
      mode = "offline";
      text = `OFFLINE for ${elapsed(now - this.offlineSince.getTime())}, reconnecting (retry ${state.connectionRetries}); showing ${asOf}`;
    } else {
      mode = "live";
      const last =
        this.lastResult === null
          ? "waiting for the first result"
          : `last change ${elapsed(now - this.lastResult.getTime())} ago`;
      text = `Live · ${last}`;
    }
    if (this.tokenTrouble !== null && mode !== "offline") text += ` · token renewal failing: ${this.tokenTrouble}`;
    this.options.status.dataset.state = mode;
    this.options.status.textContent = text;
    document.body.dataset.connection = mode;
  }
}
