/* eslint-disable */
/**
 * Generated `api` utility.
 *
 * THIS CODE IS AUTOMATICALLY GENERATED.
 *
 * To regenerate, run `npx convex dev`.
 * @module
 */

import type {
  ApiFromModules,
  FilterApi,
  FunctionReference,
} from "convex/server";
import { anyApi } from "convex/server";
import type * as auth from "../auth.js";
import type * as menu from "../menu.js";
import type * as notifications from "../notifications.js";
import type * as orders from "../orders.js";
import type * as reservations from "../reservations.js";
import type * as sync from "../sync.js";

const fullApi: ApiFromModules<{
  auth: typeof auth;
  menu: typeof menu;
  notifications: typeof notifications;
  orders: typeof orders;
  reservations: typeof reservations;
  sync: typeof sync;
}> = anyApi as any;

/**
 * A utility for referencing Convex functions in your app's public API.
 *
 * Usage:
 * ```js
 * const myFunctionReference = api.myModule.myFunction;
 * ```
 */
export const api: FilterApi<
  typeof fullApi,
  FunctionReference<any, "public">
> = anyApi as any;

/**
 * A utility for referencing Convex functions in your app's internal API.
 *
 * Usage:
 * ```js
 * const myFunctionReference = internal.myModule.myFunction;
 * ```
 */
export const internal: FilterApi<
  typeof fullApi,
  FunctionReference<any, "internal">
> = anyApi as any;
