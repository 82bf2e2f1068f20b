/**
 * A speed shim for the Convex stand-in, nothing more: convex-test answers every index
 * query by scanning every document of the whole database, so each `by_pgId` lookup costs
 * O(all documents) and loading N documents O(N^2). Past a few thousand documents the
 * stand-in, not the code under test, is what a benchmark or a long test measures.
 *
 * This adds a hash index for equality on the top-level string fields an index range
 * compares with `.eq()` (e.g. `pgId`; `restaurantId` and `status` together, so a screen's
 * lookup of one restaurant's pending orders skips its cancelled history), kept up to date
 * on commit, and lets convex-test's own
 * query code run over just the matching documents plus the open transaction's writes.
 * Every other query, and all filtering, ordering and limits, stay convex-test's own:
 * the candidates are a superset of the matches, and convex-test still applies the range.
 */
import { AsyncLocalStorage } from "node:async_hooks";

type Doc = Record<string, unknown> | null;
type RangeExpr = { type: string; fieldPath: unknown; value: unknown };
type Query = { source: { type: string; indexName?: string; range?: RangeExpr[] } };
type Db = {
  _documents: Record<string, Doc>;
  _writes: Record<string, Doc>[];
  _iterateDocs?: (table: string, callback: (doc: Doc) => void) => void;
  get(table: string, id: string): Doc;
  __eq?: Map<string, Map<string, Set<string>>>;
};
type DbProto = {
  commit(this: Db, commitTs?: unknown): unknown;
  _resolveQuerySource(this: Db, query: Query): unknown;
  __eqShim?: true;
};

const tableOf = (id: string) => id.replace(/^[0-9]+/, "");

/** How often the index answered and how many documents the last lookup visited (for tests). */
export const equalityIndexStats = { lookups: 0, lastVisited: 0 };

/** The index's key of a document: its values of `fields`, or undefined unless all are strings. */
function keyOf(doc: Doc, fields: string[]): string | undefined {
  const values = fields.map((f) => doc?.[f]);
  return values.every((v) => typeof v === "string") ? JSON.stringify(values) : undefined;
}

function eqIndex(db: Db, table: string, fields: string[]): Map<string, Set<string>> {
  db.__eq ??= new Map();
  const key = JSON.stringify([table, ...fields]);
  let index = db.__eq.get(key);
  if (index === undefined) {
    index = new Map();
    for (const [id, doc] of Object.entries(db._documents)) {
      if (tableOf(id) === table) add(index, doc, fields, id);
    }
    db.__eq.set(key, index);
  }
  return index;
}

function add(index: Map<string, Set<string>>, doc: Doc, fields: string[], id: string) {
  const value = keyOf(doc, fields);
  if (value === undefined) return;
  let ids = index.get(value);
  if (ids === undefined) index.set(value, (ids = new Set()));
  ids.add(id);
}

function reindex(db: Db, id: string, before: Doc, after: Doc) {
  for (const [key, index] of db.__eq ?? []) {
    const [table, ...fields] = JSON.parse(key) as string[];
    if (tableOf(id) !== table) continue;
    const old = keyOf(before, fields);
    if (old !== undefined) {
      const ids = index.get(old);
      ids?.delete(id);
      if (ids?.size === 0) index.delete(old);
    }
    add(index, after, fields, id);
  }
}

function patch(proto: DbProto) {
  if (proto.__eqShim) return;
  proto.__eqShim = true;
  const commit = proto.commit;
  proto.commit = function (commitTs) {
    // Only the outermost commit writes to _documents (nested ones fold into their parent).
    const outermost = this._writes.length === 1 ? this._writes[0] : null;
    const before = outermost
      ? Object.keys(outermost).map((id) => [id, this._documents[id] ?? null] as const)
      : [];
    const result = commit.call(this, commitTs);
    for (const [id, old] of before) reindex(this, id, old, this._documents[id] ?? null);
    return result;
  };
  const resolve = proto._resolveQuerySource;
  proto._resolveQuerySource = function (query) {
    const source = query.source;
    // Every equality on a top-level string field: the candidates must match all of them.
    const eqs =
      source.type === "IndexRange"
        ? (source.range ?? []).filter(
            (r) =>
              r.type === "Eq" &&
              typeof r.fieldPath === "string" &&
              !r.fieldPath.includes(".") &&
              typeof r.value === "string",
          )
        : [];
    if (eqs.length === 0 || source.indexName === undefined) return resolve.call(this, query);
    const [table = ""] = source.indexName.split(".");
    const fields = eqs.map((r) => r.fieldPath as string);
    const ids = new Set(eqIndex(this, table, fields).get(JSON.stringify(eqs.map((r) => r.value))));
    for (const layer of this._writes) {
      for (const id of Object.keys(layer)) if (tableOf(id) === table) ids.add(id);
    }
    equalityIndexStats.lookups += 1;
    equalityIndexStats.lastVisited = ids.size;
    this._iterateDocs = (t, callback) => {
      for (const id of ids) {
        const doc = this.get(t, id);
        if (doc !== null) callback(doc);
      }
    };
    try {
      return resolve.call(this, query);
    } finally {
      delete this._iterateDocs;
    }
  };
}

/** Finds convex-test's database class through the context it runs functions in, and patches it once. */
export async function installEqualityIndex(backend: { run: (fn: () => Promise<void>) => Promise<unknown> }) {
  const run = AsyncLocalStorage.prototype.run;
  let proto: DbProto | undefined;
  AsyncLocalStorage.prototype.run = function (this: AsyncLocalStorage<unknown>, store: unknown, ...rest: unknown[]) {
    const db = (store as { components?: Record<string, { db?: object }> } | null)?.components?.[""]?.db;
    if (db !== undefined && "_resolveQuerySource" in db) proto ??= Object.getPrototypeOf(db) as DbProto;
    return (run as (...args: unknown[]) => unknown).call(this, store, ...rest);
  } as typeof run;
  try {
    await backend.run(async () => {});
  } finally {
    AsyncLocalStorage.prototype.run = run;
  }
  if (proto === undefined) throw new Error("convex-test's database class was not found; the index shim needs updating");
  patch(proto);
}
