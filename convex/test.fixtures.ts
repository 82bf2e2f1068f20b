/**
 * Factories for convex-test: a fresh backend with this repo's schema and functions, and
 * documents with sensible defaults that a test overrides only where it matters.
 */
import { convexTest } from "convex-test";
import { v, type Infer } from "convex/values";
import { expect } from "vitest";
import schema, {
  menuItemFields,
  notificationFields,
  orderFields,
  reservationFields,
  tableFields,
} from "./schema";
import { modules } from "./test.setup";

export const RESTAURANT_A = "00000000-0000-4000-8000-00000000000a";
export const RESTAURANT_B = "00000000-0000-4000-8000-00000000000b";

export function newBackend() {
  return convexTest(schema, modules);
}

export type Backend = ReturnType<typeof newBackend>;

/** The backend as seen by a holder of a Tabletop token with these custom claims. */
export function staffOf(t: Backend, restaurantId: string, role = "kitchen") {
  return t.withIdentity({
    subject: uuid(),
    issuer: "https://api.tabletop.test",
    restaurant_id: restaurantId,
    role,
  });
}

/** The backend as seen by a table-side guest whose Convex token names this session. */
export function guestOf(t: Backend, restaurantId: string, sessionId: string) {
  return t.withIdentity({
    subject: `guest:${sessionId}`,
    issuer: "https://api.tabletop.test",
    role: "guest",
    restaurant_id: restaurantId,
    session_id: sessionId,
  });
}

/** The backend as seen by a customer's account token. */
export function customerOf(t: Backend, userId: string) {
  return t.withIdentity({
    subject: userId,
    issuer: "https://api.tabletop.test",
    role: "customer",
    user_id: userId,
  });
}

const order = v.object(orderFields);
const reservation = v.object(reservationFields);
const notification = v.object(notificationFields);
const menuItem = v.object(menuItemFields);
const table = v.object(tableFields);

let counter = 0;
export function uuid(): string {
  counter += 1;
  return `00000000-0000-4000-8000-${counter.toString(16).padStart(12, "0")}`;
}

export function orderDoc(
  overrides: Partial<Infer<typeof order>> = {},
): Infer<typeof order> {
  return {
    number: 1,
    tableId: null,
    tableLabel: "T1",
    status: "pending",
    orderType: "dine_in",
    items: [
      {
        pgId: uuid(),
        menuItemId: uuid(),
        name: "Masala dosa",
        unitPrice: 12000,
        quantity: 2,
        lineTotal: 24000,
        notes: null,
      },
    ],
    subtotal: 24000,
    tax: 1200,
    tip: 0,
    discount: 0,
    total: 25200,
    currency: "INR",
    customerName: null,
    notes: null,
    createdAt: 1_700_000_000_000,
    updatedAt: 1_700_000_000_000,
    ...overrides,
  };
}

export function menuItemDoc(
  overrides: Partial<Infer<typeof menuItem>> = {},
): Infer<typeof menuItem> {
  return {
    categoryId: uuid(),
    categoryName: "Mains",
    name: "Masala dosa",
    description: null,
    price: 12000,
    isAvailable: true,
    rank: 0,
    ...overrides,
  };
}

export function tableDoc(
  overrides: Partial<Infer<typeof table>> = {},
): Infer<typeof table> {
  return { label: "T1", seats: 4, isActive: true, ...overrides };
}

export function reservationDoc(
  overrides: Partial<Infer<typeof reservation>> = {},
): Infer<typeof reservation> {
  return {
    slotStart: 1_700_000_000_000,
    localDate: "2023-11-14",
    timezone: "Asia/Kolkata",
    partySize: 2,
    status: "pending",
    userId: null,
    guestName: "Asha",
    guestPhone: null,
    tablePreference: null,
    note: null,
    createdAt: 1_700_000_000_000,
    updatedAt: 1_700_000_000_000,
    ...overrides,
  };
}

export function notificationDoc(
  overrides: Partial<Infer<typeof notification>> = {},
): Infer<typeof notification> {
  return {
    userId: null,
    sessionId: null,
    type: "order_status",
    title: "Order #1 is ready",
    message: "Your order #1 at Demo Bistro is ready.",
    referenceType: "order",
    referenceId: uuid(),
    status: "ready",
    readAt: null,
    createdAt: 1_700_000_000_000,
    ...overrides,
  };
}

/** Asserts that a call failed with a ConvexError carrying this `code`. */
export async function expectConvexError(
  call: Promise<unknown>,
  code: string,
): Promise<void> {
  await expect(call).rejects.toMatchObject({ data: { code } });
}
