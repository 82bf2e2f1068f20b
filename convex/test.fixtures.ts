/**
 * Factories for convex-test: a fresh backend with this repo's schema and functions, and
 * documents with sensible defaults that a test overrides only where it matters.
 */
import { convexTest } from "convex-test";
import { v, type Infer } from "convex/values";
import { expect } from "vitest";
import schema, { menuItemFields, orderFields, tableFields } from "./schema";
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

const order = v.object(orderFields);
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

/** Asserts that a call failed with a ConvexError carrying this `code`. */
export async function expectConvexError(
  call: Promise<unknown>,
  code: string,
): Promise<void> {
  await expect(call).rejects.toMatchObject({ data: { code } });
}
