/**
 * The table-side order tracker: a guest's phone follows its own orders live. The page gets
 * the guest session's API token in its address's fragment (`track.html#session=<token>`,
 * never sent to a server; kept in sessionStorage and taken out of the address), asks the API
 * for a guest Convex token (`POST /api/qr/session/convex-token`: this session's orders and
 * notifications only), and subscribes to `orders:forGuestSession` and `notifications:mine`.
 * It reads and writes nothing else: the order's truth is the API's, Convex brings its moves.
 */
import { makeFunctionReference } from "convex/server";
import { request } from "./api";
import { loadConfig } from "./config";
import { Live } from "./live";
import "./style.css";

type Line = { name: string; quantity: number; variationName?: string | null; notes: string | null };
type Tracked = {
  pgId: string;
  number: number;
  status: string;
  orderType: string;
  tableLabel: string | null;
  items: Line[];
  total: number;
  currency: string;
  statusReason?: string | null;
  pickupAt?: number | null;
  createdAt: number;
};
type Notice = { pgId: string; title: string; message: string; readAt: number | null; createdAt: number };

const forGuestSession = makeFunctionReference<"query", Record<string, never>, Tracked[]>("orders:forGuestSession");
const mine = makeFunctionReference<"query", { limit?: number }, { items: Notice[]; unreadCount: number }>(
  "notifications:mine",
);
const SESSION_KEY = "tabletop.tracker.session";
// The steps a guest sees; any other status (cancelled, rejected) is shown in words instead.
const STEPS: Record<string, string[]> = {
  dine_in: ["pending", "confirmed", "preparing", "ready", "served"],
  takeaway: ["pending", "confirmed", "preparing", "ready", "completed"],
  delivery: ["pending", "confirmed", "preparing", "ready", "dispatched", "delivered"],
};
const WORDS: Record<string, string> = {
  pending: "Sent to the restaurant",
  confirmed: "Accepted",
  preparing: "Being prepared",
  ready: "Ready",
  served: "Served",
  completed: "Picked up",
  dispatched: "On its way",
  delivered: "Delivered",
  cancelled: "Cancelled",
  rejected: "Declined",
};

const $ = <T extends HTMLElement>(selector: string): T => {
  const node = document.querySelector<T>(selector);
  if (node === null) throw new Error(`track.html has no ${selector}`);
  return node;
};

function show(view: "track" | "fatal", message = ""): void {
  for (const section of document.querySelectorAll<HTMLElement>("[data-view]")) {
    section.hidden = section.dataset.view !== view;
  }
  if (view === "fatal") $("#fatal-message").textContent = message;
}

function el(tag: string, className: string, text = ""): HTMLElement {
  const node = document.createElement(tag);
  node.className = className;
  node.textContent = text;
  return node;
}

/** The session token: from the fragment on first open (then out of the address), else kept. */
function sessionToken(): string | null {
  const fragment = new URLSearchParams(location.hash.slice(1));
  const given = fragment.get("session");
  if (given) {
    sessionStorage.setItem(SESSION_KEY, given);
    history.replaceState(null, "", location.pathname + location.search);
  }
  return sessionStorage.getItem(SESSION_KEY);
}

function money(minor: number, currency: string): string {
  try {
    return new Intl.NumberFormat(undefined, { style: "currency", currency }).format(minor / 100);
  } catch {
    return `${(minor / 100).toFixed(2)} ${currency}`;
  }
}

function renderOrders(orders: Tracked[]): void {
  const area = $("#tracked");
  if (orders.length === 0) {
    area.replaceChildren(el("p", "muted", "No orders from this table session yet."));
    return;
  }
  area.replaceChildren(
    ...orders.map((order) => {
      const card = el("article", "card tracked");
      card.dataset.order = order.pgId;
      card.dataset.status = order.status;
      const header = el("header", "");
      header.append(el("span", "number", `#${order.number}`), el("span", "table", order.tableLabel ?? ""));
      header.append(el("span", "state", WORDS[order.status] ?? order.status));
      card.append(header);
      const steps = STEPS[order.orderType] ?? STEPS.dine_in!;
      if (steps.includes(order.status)) {
        const bar = el("ol", "steps");
        const at = steps.indexOf(order.status);
        steps.forEach((step, index) => {
          const item = el("li", index < at ? "done" : index === at ? "current" : "", WORDS[step] ?? step);
          bar.append(item);
        });
        card.append(bar);
      }
      if (order.statusReason) card.append(el("p", "note order-note", order.statusReason));
      if (order.pickupAt) {
        card.append(el("p", "customer", `Pickup at ${new Date(order.pickupAt).toLocaleTimeString([], { hour: "2-digit", minute: "2-digit" })}`));
      }
      const lines = el("ul", "items");
      for (const line of order.items) {
        const text = `${line.quantity} × ${line.name}${line.variationName ? ` (${line.variationName})` : ""}`;
        lines.append(el("li", "item", text));
      }
      card.append(lines, el("p", "customer", `Total ${money(order.total, order.currency)}`));
      return card;
    }),
  );
}

function renderNotices(answer: { items: Notice[]; unreadCount: number }): void {
  $("#unread").textContent = String(answer.unreadCount);
  $("#notifications").replaceChildren(
    ...answer.items.map((notice) => {
      const item = el("li", notice.readAt === null ? "notice unread" : "notice");
      item.append(el("strong", "", notice.title), el("span", "", ` ${notice.message}`));
      return item;
    }),
  );
}

async function main(): Promise<void> {
  const token = sessionToken();
  if (token === null) {
    show("fatal", "Open this page from your order (it needs your table's session).");
    return;
  }
  let config;
  try {
    config = await loadConfig();
  } catch (error) {
    show("fatal", String((error as Error).message));
    return;
  }
  show("track");
  const live = new Live({
    convexUrl: config.convexUrl,
    token: async () =>
      ((await request(config.apiUrl, "POST", "/api/qr/session/convex-token", undefined, token)) as { token: string })
        .token,
    ended: () => {
      sessionStorage.removeItem(SESSION_KEY);
      show("fatal", "This table session has ended. Scan the table's code to order again.");
    },
    status: $("#connection"),
    what: "your orders",
  });
  live.client.onUpdate(forGuestSession, {}, (orders) => {
    renderOrders(orders);
    live.received();
  });
  live.client.onUpdate(mine, { limit: 20 }, renderNotices);
}

void main();
