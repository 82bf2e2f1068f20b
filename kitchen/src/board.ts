/**
 * The board: one column per kitchen status, one card per order, rebuilt from each result of
 * `orders:liveByStatus`. The only state of its own is which moves are waiting for Convex to
 * show them (a card's buttons stay disabled until its order comes back changed).
 */

/** An order as `orders:liveByStatus` returns it (convex/schema.ts: syncedFields + orderFields). */
export type OrderItem = {
  pgId: string;
  name: string;
  quantity: number;
  notes: string | null;
  variationName?: string | null;
  addons?: { pgId: string; name: string; groupName: string | null; price: number }[];
};
export type Order = {
  pgId: string;
  version: number;
  number: number;
  tableLabel: string | null;
  status: string;
  orderType: "dine_in" | "takeaway" | "delivery";
  items: OrderItem[];
  customerName: string | null;
  notes: string | null;
  createdAt: number;
  updatedAt: number;
  /** A takeaway's pickup time (ms; null or absent: as soon as ready). */
  pickupAt?: number | null;
  deliveryAddress?: string | null;
  /** unpaid, pending, paid, failed, refunded (absent on documents synced before it existed). */
  paymentStatus?: string;
};

export const COLUMNS = [
  ["pending", "New"],
  ["confirmed", "Accepted"],
  ["preparing", "Preparing"],
  ["ready", "Ready"],
] as const;

type Move = { to: string; label: string; primary: boolean };

/** The staff moves a card offers: db/lifecycle.py's, minus those that are not the kitchen's. */
export function movesFor(order: Order): Move[] {
  switch (order.status) {
    case "pending":
      return [
        { to: "confirmed", label: "Accept", primary: true },
        { to: "rejected", label: "Reject", primary: false },
      ];
    case "confirmed":
      return [
        { to: "preparing", label: "Start", primary: true },
        { to: "cancelled", label: "Cancel", primary: false },
      ];
    case "preparing":
      return [{ to: "ready", label: "Ready", primary: true }];
    case "ready": {
      const last = { dine_in: ["served", "Served"], takeaway: ["completed", "Picked up"], delivery: ["dispatched", "Dispatched"] }[
        order.orderType
      ];
      return [{ to: last[0]!, label: last[1]!, primary: true }];
    }
    default:
      return [];
  }
}

export function elapsed(ms: number): string {
  const s = Math.max(0, Math.floor(ms / 1000));
  if (s < 60) return `${s}s`;
  const m = Math.floor(s / 60);
  if (m < 60) return `${m}m ${String(s % 60).padStart(2, "0")}s`;
  return `${Math.floor(m / 60)}h ${String(m % 60).padStart(2, "0")}m`;
}

/** Age classes: the badge turns amber after 10 minutes, red after 20. */
function ageClass(ms: number): string {
  return ms >= 20 * 60_000 ? "late" : ms >= 10 * 60_000 ? "slow" : "";
}

function el<K extends keyof HTMLElementTagNameMap>(
  tag: K,
  attrs: Record<string, string> = {},
  ...children: (Node | string)[]
): HTMLElementTagNameMap[K] {
  const node = document.createElement(tag);
  for (const [name, value] of Object.entries(attrs)) node.setAttribute(name, value);
  node.append(...children);
  return node;
}

function itemLine(item: OrderItem): HTMLElement {
  const li = el("li", { class: "item" }, el("span", { class: "qty" }, `${item.quantity}×`), " ", item.name);
  const details: string[] = [];
  if (item.variationName) details.push(item.variationName);
  for (const addon of item.addons ?? []) details.push(`+ ${addon.name}`);
  if (details.length > 0) li.append(el("div", { class: "options" }, details.join(", ")));
  if (item.notes) li.append(el("div", { class: "note" }, `“${item.notes}”`));
  return li;
}

export type MoveHandler = (order: Order, to: string) => void;

export class Board {
  /** pgId -> the version the order had when a move was asked for. */
  private readonly waiting = new Map<string, number>();
  private orders: Order[] = [];

  constructor(
    private readonly root: HTMLElement,
    private readonly onMove: MoveHandler,
  ) {}

  /** A move was sent (or failed: `done`); the card waits for a newer version from Convex. */
  markWaiting(order: Order, done = false): void {
    if (done) this.waiting.delete(order.pgId);
    else this.waiting.set(order.pgId, order.version);
    this.render(this.orders);
  }

  render(orders: Order[]): void {
    this.orders = orders;
    for (const order of orders) {
      const asked = this.waiting.get(order.pgId);
      if (asked !== undefined && order.version > asked) this.waiting.delete(order.pgId);
    }
    const now = Date.now();
    const columns = COLUMNS.map(([status, title]) => {
      const cards = orders.filter((o) => o.status === status).map((o) => this.card(o, now));
      return el(
        "section",
        { class: "column", "data-status": status },
        el("h2", {}, title, " ", el("span", { class: "count" }, String(cards.length))),
        el("div", { class: "cards" }, ...cards),
      );
    });
    this.root.replaceChildren(...columns);
  }

  /** Refreshes the elapsed badges without rebuilding the cards (once a second). */
  tick(): void {
    const now = Date.now();
    for (const badge of this.root.querySelectorAll<HTMLElement>(".age")) {
      const age = now - Number(badge.dataset.created);
      badge.textContent = elapsed(age);
      badge.className = `age ${ageClass(age)}`.trim();
    }
  }

  private card(order: Order, now: number): HTMLElement {
    const age = now - order.createdAt;
    const where =
      order.tableLabel ?? (order.orderType === "dine_in" ? "no table" : order.orderType.replace("_", " "));
    const head = el(
      "header",
      {},
      el("span", { class: "number" }, `#${order.number}`),
      el("span", { class: "table" }, where),
      el("span", { class: `age ${ageClass(age)}`.trim(), "data-created": String(order.createdAt) }, elapsed(age)),
    );
    const card = el(
      "article",
      { class: "card", "data-order-id": order.pgId, "data-number": String(order.number) },
      head,
    );
    if (order.customerName) card.append(el("div", { class: "customer" }, order.customerName));
    if (order.pickupAt) {
      const at = new Date(order.pickupAt).toLocaleTimeString([], { hour: "2-digit", minute: "2-digit" });
      card.append(el("div", { class: "pickup" }, `Pickup ${at}`));
    }
    if (order.deliveryAddress) {
      card.append(el("div", { class: "delivery" }, `Deliver to ${order.deliveryAddress}`));
    }
    if (order.paymentStatus && order.paymentStatus !== "unpaid") {
      card.append(el("div", { class: `payment ${order.paymentStatus}` }, order.paymentStatus));
    }
    card.append(el("ul", { class: "items" }, ...order.items.map(itemLine)));
    if (order.notes) card.append(el("div", { class: "note order-note" }, `“${order.notes}”`));
    const waiting = this.waiting.has(order.pgId);
    const buttons = movesFor(order).map((move) => {
      const button = el(
        "button",
        { type: "button", class: move.primary ? "primary" : "secondary", "data-move": move.to },
        move.label,
      );
      button.disabled = waiting;
      button.addEventListener("click", () => this.onMove(order, move.to));
      return button;
    });
    card.append(el("footer", {}, ...buttons));
    if (waiting) card.classList.add("waiting");
    return card;
  }
}
