/**
 * The kitchen display: log in through the Tabletop API, pick a restaurant, get a Convex
 * token from the API, subscribe to `orders:liveByStatus` with the official ConvexClient,
 * and show the board. Moves go to the API; the board changes only when Convex sends the
 * new result. The client reconnects by itself; the status bar says when it is offline and
 * how old what it shows is.
 */
import { makeFunctionReference } from "convex/server";
import { Api, ApiProblem, type Membership } from "./api";
import { Board, type Order } from "./board";
import { loadConfig, type Config } from "./config";
import { Live } from "./live";
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
  const board = new Board($("#board"), (order, to) => {
    board.markWaiting(order);
    api.move(rid, order.pgId, to).catch((error: unknown) => {
      board.markWaiting(order, true);
      toast(`#${order.number}: ${error instanceof ApiProblem ? error.message : String(error)}`);
    });
  });

  const live = new Live(
    {
      convexUrl: config.convexUrl,
      token: () => api.convexToken(rid),
      // Logged out, or no longer staff there: back to the login form.
      ended: (problem) => askLogin(api, config, problem.status === 401 ? "Your session ended: log in again." : problem.message),
      status: $("#connection"),
      what: "orders",
    },
    () => board.tick(),
  );

  live.client.onUpdate(
    liveByStatus,
    {},
    (orders) => {
      board.render(orders);
      live.received();
    },
    (error) => toast(`Convex: ${error.message}`),
  );
  $<HTMLButtonElement>("#logout").onclick = () => {
    live.close();
    api.logout();
    localStorage.removeItem(RESTAURANT_KEY);
    location.reload();
  };
}

void main();
