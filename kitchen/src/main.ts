/**
 * The kitchen display: log in through the Tabletop API, pick a restaurant, get a Convex
 * token from the API, subscribe to `orders:liveByStatus` with the official ConvexClient,
 * and show the board. Moves go to the API; the board changes only when Convex sends the
 * new result. The client reconnects by itself; the status bar says when it is offline and
 * how old what it shows is.
 */
import { ConvexClient } from "convex/browser";
import type { ConnectionState } from "convex/browser";
import { makeFunctionReference } from "convex/server";
import { Api, ApiProblem, type Membership } from "./api";
import { Board, elapsed, type Order } from "./board";
import { loadConfig, type Config } from "./config";
import "./style.css";

const liveByStatus = makeFunctionReference<"query", { status?: string }, Order[]>("orders:liveByStatus");
const STAFF_ROLES = ["owner", "manager", "staff", "kitchen"];
const RESTAURANT_KEY = "tabletop.kitchen.restaurant";

const $ = <T extends HTMLElement>(selector: string): T => {
  const node = document.querySelector<T>(selector);
  if (node === null) throw new Error(`index.html has no ${selector}`);
  return node;
};

function show(view: "login" | "choose" | "board" | "fatal"): void {
  for (const section of document.querySelectorAll<HTMLElement>("[data-view]")) {
    section.hidden = section.dataset.view !== view;
  }
}

function toast(message: string): void {
  const area = $("#toasts");
  const note = document.createElement("div");
  note.className = "toast";
  note.textContent = message;
  area.append(note);
  setTimeout(() => note.remove(), 6000);
}

function fatal(message: string): void {
  $("#fatal-message").textContent = message;
  show("fatal");
}

async function main(): Promise<void> {
  let config: Config;
  try {
    config = await loadConfig();
  } catch (error) {
    fatal(String((error as Error).message));
    return;
  }
  const api = new Api(config.apiUrl);
  $("#api-url").textContent = config.apiUrl;
  if (api.hasSession) await chooseRestaurant(api, config);
  else askLogin(api, config);
}

function askLogin(api: Api, config: Config, why = ""): void {
  show("login");
  $("#login-error").textContent = why;
  const form = $<HTMLFormElement>("#login-form");
  form.onsubmit = async (event) => {
    event.preventDefault();
    const data = new FormData(form);
    $("#login-error").textContent = "";
    try {
      await api.login(String(data.get("email")), String(data.get("password")));
    } catch (error) {
      $("#login-error").textContent = error instanceof ApiProblem ? error.message : String(error);
      return;
    }
    await chooseRestaurant(api, config);
  };
}

async function chooseRestaurant(api: Api, config: Config): Promise<void> {
  let staff: Membership[];
  try {
    staff = (await api.me()).memberships.filter((m) => STAFF_ROLES.includes(m.role));
  } catch (error) {
    askLogin(api, config, error instanceof ApiProblem && error.status !== 401 ? error.message : "");
    return;
  }
  if (staff.length === 0) {
    askLogin(api, config, "This account is not staff of any restaurant.");
    api.logout();
    return;
  }
  const wanted = new URLSearchParams(location.search).get("restaurant") ?? localStorage.getItem(RESTAURANT_KEY);
  const known = staff.find((m) => m.restaurant_id === wanted);
  if (known) return openBoard(api, config, known.restaurant_id);
  if (staff.length === 1) return openBoard(api, config, staff[0]!.restaurant_id);
  show("choose");
  const list = $("#restaurants");
  list.replaceChildren();
  for (const membership of staff) {
    const button = document.createElement("button");
    button.type = "button";
    button.dataset.restaurant = membership.restaurant_id;
    button.textContent = `${membership.restaurant_id} (${membership.role})`;
    api.restaurantName(membership.restaurant_id).then(
      (name) => (button.textContent = `${name} (${membership.role})`),
      () => undefined,
    );
    button.onclick = () => void openBoard(api, config, membership.restaurant_id);
    list.append(button);
  }
}

async function openBoard(api: Api, config: Config, rid: string): Promise<void> {
  localStorage.setItem(RESTAURANT_KEY, rid);
  show("board");
  api.restaurantName(rid).then(
    (name) => ($("#restaurant-name").textContent = name),
    () => undefined,
  );
  const client = new ConvexClient(config.convexUrl, { unsavedChangesWarning: false });
  const status = $("#connection");
  let lastResult: Date | null = null;
  let offlineSince: Date | null = null;
  let authRefused = false;
  let tokenTrouble: string | null = null;

  const board = new Board($("#board"), (order, to) => {
    board.markWaiting(order);
    api.move(rid, order.pgId, to).catch((error: unknown) => {
      board.markWaiting(order, true);
      toast(`#${order.number}: ${error instanceof ApiProblem ? error.message : String(error)}`);
    });
  });

  // The client calls this again before the token expires (and with forceRefreshToken when
  // the server refuses one): every call asks the API for a fresh token (they are cheap).
  // The API unreachable or overloaded: keep asking with backoff, never answer null, which
  // would leave the client unauthenticated for good; the current token works meanwhile.
  // Logged out, or no longer staff there: back to the login form.
  let closed = false;
  const fetchToken = async (): Promise<string | null> => {
    for (let delay = 1000; !closed; delay = Math.min(delay * 2, 30_000)) {
      try {
        return await api.convexToken(rid);
      } catch (error) {
        if (error instanceof ApiProblem && [401, 403, 404].includes(error.status)) {
          closed = true;
          void client.close();
          askLogin(api, config, error.status === 401 ? "Your session ended: log in again." : error.message);
          return null;
        }
        tokenTrouble = error instanceof Error ? error.message : String(error);
        paint(client.connectionState());
        await new Promise((resolve) => setTimeout(resolve, delay));
      }
    }
    return null;
  };
  const authenticate = (): void =>
    client.setAuth(fetchToken, (authenticated) => {
      authRefused = !authenticated;
      if (authenticated) tokenTrouble = null;
      paint(client.connectionState());
      // Refused even after a fresh token (keys rotating, clocks apart): try again shortly.
      if (!authenticated && !closed) setTimeout(authenticate, 5000);
    });
  authenticate();
  client.onUpdate(
    liveByStatus,
    {},
    (orders) => {
      lastResult = new Date();
      board.render(orders);
      paint(client.connectionState());
    },
    (error) => toast(`Convex: ${error.message}`),
  );

  function paint(state: ConnectionState): void {
    const now = Date.now();
    if (state.isWebSocketConnected) offlineSince = null;
    else if (state.hasEverConnected) offlineSince ??= new Date();
    const asOf = lastResult === null ? "nothing received yet" : `orders as of ${lastResult.toLocaleTimeString()}`;
    let mode: string;
    let text: string;
    if (authRefused) {
      mode = "refused";
      text = `Convex refused the token; trying again shortly (${asOf})`;
    } else if (!state.hasEverConnected) {
      mode = "connecting";
      text = `Connecting to ${config.convexUrl}…`;
    } else if (offlineSince !== null) {
      mode = "offline";
      text = `OFFLINE for ${elapsed(now - offlineSince.getTime())}, reconnecting (retry ${state.connectionRetries}); showing ${asOf}`;
    } else {
      mode = "live";
      const last = lastResult === null ? "waiting for the first result" : `last change ${elapsed(now - lastResult.getTime())} ago`;
      text = `Live · ${last}`;
    }
    if (tokenTrouble !== null && mode !== "offline") text += ` · token renewal failing: ${tokenTrouble}`;
    status.dataset.state = mode;
    status.textContent = text;
    document.body.dataset.connection = mode;
  }

  client.subscribeToConnectionState(paint);
  const timer = setInterval(() => {
    if (closed) return clearInterval(timer);
    board.tick();
    paint(client.connectionState());
  }, 1000);
  $<HTMLButtonElement>("#logout").onclick = () => {
    closed = true;
    void client.close();
    api.logout();
    localStorage.removeItem(RESTAURANT_KEY);
    location.reload();
  };
}

void main();
