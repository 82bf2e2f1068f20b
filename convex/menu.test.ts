import { describe, expect, test } from "vitest";
import { api, internal } from "./_generated/api";
import {
  type Backend,
  RESTAURANT_A,
  RESTAURANT_B,
  expectConvexError,
  menuItemDoc,
  newBackend,
  staffOf,
  uuid,
} from "./test.fixtures";

async function seedItem(
  t: Backend,
  restaurantId: string,
  overrides: Parameters<typeof menuItemDoc>[0] = {},
) {
  const pgId = uuid();
  await t.mutation(internal.sync.applyBatch, {
    changes: [
      {
        entity: "menuItems",
        op: "upsert",
        pgId,
        restaurantId,
        version: 1,
        doc: menuItemDoc(overrides),
      },
    ],
  });
  return pgId;
}

describe("menu:availability", () => {
  test("a caller without an identity is refused as unauthenticated", async () => {
    const t = newBackend();
    await expectConvexError(
      t.query(api.menu.availability, {}),
      "unauthenticated",
    );
  });

  test("a guest session token is refused as forbidden", async () => {
    const t = newBackend();
    await seedItem(t, RESTAURANT_A);
    await expectConvexError(
      staffOf(t, RESTAURANT_A, "guest").query(api.menu.availability, {}),
      "forbidden",
    );
  });

  test("staff see exactly their restaurant's items in category and rank order", async () => {
    const t = newBackend();
    const drink = await seedItem(t, RESTAURANT_A, {
      categoryName: "Drinks",
      name: "Lassi",
      price: 5000,
    });
    const second = await seedItem(t, RESTAURANT_A, {
      categoryName: "Mains",
      name: "Appam",
      rank: 2,
      isAvailable: false,
    });
    const first = await seedItem(t, RESTAURANT_A, {
      categoryName: "Mains",
      name: "Thali",
      rank: 1,
    });
    await seedItem(t, RESTAURANT_B, { categoryName: "Drinks", name: "Chai" });
    const items = await staffOf(t, RESTAURANT_A).query(
      api.menu.availability,
      {},
    );
    expect(items.map((i) => i.pgId)).toEqual([drink, first, second]);
    expect(items[0]).toEqual({
      pgId: drink,
      name: "Lassi",
      isAvailable: true,
      price: 5000,
      categoryName: "Drinks",
    });
    expect(items[2]).toMatchObject({ name: "Appam", isAvailable: false });
  });

  test("another restaurant's staff see none of this restaurant's items", async () => {
    const t = newBackend();
    await seedItem(t, RESTAURANT_A);
    expect(
      await staffOf(t, RESTAURANT_B).query(api.menu.availability, {}),
    ).toEqual([]);
  });
});
