/**
 * Convex's WebSocket sync protocol for the stand-in (scripts/convex_standin.ts): enough of
 * it that the official clients (`ConvexClient` from `convex/browser`, `ConvexReactClient`,
 * both over `BaseConvexClient`) work against the stand-in unchanged.
 *
 * The message shapes are those of `node_modules/convex/src/browser/sync/protocol.ts`. What
 * the client relies on, and this server therefore keeps:
 *
 * - every `Transition` starts at exactly the version the connection last sent (query set,
 *   identity, ts) and ends at a version whose query set and identity numbers are those of
 *   the last `ModifyQuerySet` / `Authenticate` processed; a transition that raises the
 *   identity number is what confirms a token to the client (`onAuthChange(true)`);
 * - a successful `MutationResponse` carries the commit ts, and the client resolves the
 *   mutation only once a later `Transition` reaches that ts, so one always follows;
 * - a refused token answers `AuthError` (authUpdateAttempted: true) with the identity left
 *   as it was; the client then refetches a token or reports `onAuthChange(false)`;
 * - `Ping` every 15 s on an otherwise quiet socket (the client reconnects after 60 s
 *   without a message);
 * - a mutation re-sent after a reconnect (same session id and request id) is answered
 *   from memory, not run twice.
 *
 * What it does not do, compared with a deployment: it re-runs every subscribed query of
 * every connection after every committed mutation (no read-set tracking), then sends only
 * the results whose JSON changed; journals are echoed as null (no pagination); no actions,
 * no `TransitionChunk`s, no components; log lines are always empty.
 */
import type http from "node:http";
import type { Duplex } from "node:stream";
import { convexToJson, jsonToConvex, type Value } from "convex/values";
import { WebSocketServer, type RawData, type WebSocket } from "ws";

type Json = null | boolean | number | string | Json[] | { [key: string]: Json };

export type SyncCaller =
  | { kind: "admin" }
  | { kind: "user"; identity: Record<string, Json> }
  | { kind: "anonymous" };

export type Resolved =
  | { found: true; canonicalPath: string; internal: boolean }
  | { found: false; errorMessage: string };

/** What the stand-in lends the protocol: its backend, queue and token check. */
export type SyncHost = {
  /** Runs `work` alone in the stand-in's one-function-at-a-time queue. */
  serialized<T>(work: () => Promise<T>): Promise<T>;
  /** Finds a function as the HTTP path does. */
  resolve(udfPath: string, kind: "query" | "mutation"): Promise<Resolved>;
  /** Runs a resolved function as `caller` (not queued: call it inside `serialized`). */
  run(
    kind: "query" | "mutation",
    canonicalPath: string,
    args: Record<string, Value>,
    caller: SyncCaller,
  ): Promise<Value>;
  /** A thrown function error as the HTTP API reports it. */
  functionError(err: unknown): { errorMessage: string; errorData?: unknown };
  /** Verifies a user token as the HTTP path verifies `Authorization: Bearer`; throws if refused. */
  verifyUserToken(token: string): Promise<Record<string, Json>>;
  isAdminKey(key: string): boolean;
  /** True while new sockets must be refused (the `down` fault). */
  refusing(): boolean;
};

/** Convex's wording for a function the caller may not see. */
function notFound(udfPath: string) {
  const [module = "", name = "default"] = udfPath.split(":");
  return `Could not find public function for '${module.replace(/\.js$/, "")}:${name}'. Did you forget to run \`npx convex dev\` or \`npx convex deploy\`?`;
}

// Convex pings every 15 s on a quiet socket; the client gives up on a server after 60 s.
const PING_EVERY_MS = 15_000;
// Mutation answers remembered per session for re-sends after a reconnect.
const REMEMBERED_MUTATIONS = 1_000;
const REMEMBERED_SESSIONS = 1_000;
const MAX_MESSAGE_BYTES = 16 * 1024 * 1024;
const SYNC_PATH = /^\/api\/(?:[^/]+\/)?sync$/;

type Outcome =
  | { success: true; value: Json }
  | { success: false; errorMessage: string; errorData?: Json };

type MutationAnswer =
  | {
      type: "MutationResponse";
      requestId: number;
      success: true;
      result: Json;
      ts: string;
      logLines: [];
    }
  | {
      type: "MutationResponse";
      requestId: number;
      success: false;
      result: string;
      logLines: [];
      errorData?: Json;
    };

type Version = { querySet: number; identity: number; ts: bigint };

export type SyncOptions = { pingEveryMs: number };

/** A recent commit's fan-out: when it committed, and when the last socket was sent it. */
type FanOut = {
  ts: bigint;
  at: number;
  lastSentAt: number | null;
  sockets: number;
};
// Recent commits kept for `timing()` (the bench reads them after each window).
const KEPT_FANOUTS = 100_000;

/** Where a subscription's time goes, for the bench (GET /_standin/trace). */
export class SyncTiming {
  queryRuns = 0;
  queryRunMs = 0;
  cachedResults = 0;
  jobs = 0;
  jobWaitMs = 0;
  jobRunMs = 0;
  maxJobRunMs = 0;
  transitions = 0;
  readonly fanOuts: FanOut[] = [];

  reset() {
    Object.assign(this, {
      queryRuns: 0,
      queryRunMs: 0,
      cachedResults: 0,
      jobs: 0,
      jobWaitMs: 0,
      jobRunMs: 0,
      maxJobRunMs: 0,
      transitions: 0,
    });
    this.fanOuts.length = 0;
  }

  committed(ts: bigint) {
    this.fanOuts.push({ ts, at: Date.now(), lastSentAt: null, sockets: 0 });
    if (this.fanOuts.length > KEPT_FANOUTS)
      this.fanOuts.splice(0, this.fanOuts.length - KEPT_FANOUTS);
  }

  /** A transition from `from` (exclusive) to `to` (inclusive) went out on one socket. */
  sent(from: bigint, to: bigint) {
    this.transitions += 1;
    const now = Date.now();
    for (let i = this.fanOuts.length - 1; i >= 0; i -= 1) {
      const f = this.fanOuts[i]!;
      if (f.ts <= from) break;
      if (f.ts > to) continue;
      f.lastSentAt = now;
      f.sockets += 1;
    }
  }

  fanOut(ts: bigint): FanOut | undefined {
    let lo = 0;
    let hi = this.fanOuts.length - 1;
    while (lo <= hi) {
      const mid = (lo + hi) >> 1;
      const f = this.fanOuts[mid]!;
      if (f.ts === ts) return f;
      if (f.ts < ts) lo = mid + 1;
      else hi = mid - 1;
    }
    return undefined;
  }

  summary() {
    const { fanOuts: _, ...counts } = this;
    return counts;
  }
}

/** `CONVEX_STANDIN_SYNC_PING_MS` (tests shorten it); 15 s like Convex by default. */
export function syncOptionsFromEnv(env: NodeJS.ProcessEnv): SyncOptions {
  const raw = env.CONVEX_STANDIN_SYNC_PING_MS;
  const pingEveryMs =
    raw === undefined || raw === "" ? PING_EVERY_MS : Number(raw);
  if (!Number.isInteger(pingEveryMs) || pingEveryMs <= 0) {
    throw new Error(
      `CONVEX_STANDIN_SYNC_PING_MS must be a positive integer, got ${raw}`,
    );
  }
  return { pingEveryMs };
}

/** A u64 as the protocol encodes it: 8 bytes little-endian, standard base64. */
export function encodeTs(ts: bigint): string {
  const bytes = Buffer.alloc(8);
  bytes.writeBigUInt64LE(ts);
  return bytes.toString("base64");
}

export function decodeTs(encoded: string): bigint {
  const bytes = Buffer.from(encoded, "base64");
  if (bytes.length !== 8) throw new Error("a ts is 8 bytes");
  return bytes.readBigUInt64LE();
}

function isObject(value: unknown): value is Record<string, unknown> {
  return typeof value === "object" && value !== null && !Array.isArray(value);
}

class ProtocolError extends Error {}

// A result's JSON, made once however many connections send it: a board of a few hundred
// orders is a few hundred KB, and 20 screens sharing one result stringified it 40 times.
const serializedOutcomes = new WeakMap<
  Outcome,
  { json: string; value?: string }
>();

function serialize(outcome: Outcome): { json: string; value?: string } {
  let cached = serializedOutcomes.get(outcome);
  if (cached === undefined) {
    const value = outcome.success ? JSON.stringify(outcome.value) : undefined;
    cached = {
      json: outcome.success
        ? `{"success":true,"value":${value}}`
        : JSON.stringify(outcome),
      value,
    };
    serializedOutcomes.set(outcome, cached);
  }
  return cached;
}

class Connection {
  sessionId: string | null = null;
  clockSkew: number | undefined;
  querySetVersion = 0;
  identityVersion = 0;
  caller: SyncCaller = { kind: "anonymous" };
  authExpired = false;
  readonly queries = new Map<number, { udfPath: string; args: Json }>();
  /** The JSON of each query's last sent result, to send only what changed. */
  readonly sentResults = new Map<number, string>();
  readonly removed = new Set<number>();
  sent: Version = { querySet: 0, identity: 0, ts: 0n };
  /** The next transition must reach this ts: a mutation of this connection committed at it. */
  minTs = 0n;
  chain: Promise<void> = Promise.resolve();
  syncQueued = false;
  closed = false;
  lastSentAt = Date.now();
  pinger: ReturnType<typeof setInterval> | undefined;

  constructor(
    readonly ws: WebSocket,
    readonly id: number,
  ) {}

  send(message: unknown) {
    this.sendRaw(JSON.stringify(message));
  }

  sendRaw(text: string) {
    if (this.closed) return;
    this.lastSentAt = Date.now();
    this.ws.send(text);
  }
}

export class SyncProtocol {
  private readonly wss = new WebSocketServer({
    noServer: true,
    maxPayload: MAX_MESSAGE_BYTES,
  });
  private readonly connections = new Set<Connection>();
  private readonly sessions = new Map<string, Map<number, MutationAnswer>>();
  readonly timing = new SyncTiming();
  private nextConnectionId = 1;
  // Nanoseconds since the epoch, like Convex's commit timestamps; only moves forward.
  private ts = BigInt(Date.now()) * 1_000_000n;
  // Query results of the current ts, shared by connections that run the same query with
  // the same arguments and the same identity (screens sharing a login): cleared by every
  // commit. A query run between an HTTP commit and its `committed()` call may cache the
  // state just before that commit; `committed()` then re-runs everything, so every
  // connection still ends on the committed state.
  private readonly results = new Map<string, Outcome>();
  private resultsTs = this.ts;
  // Connections waiting for their queries to run: served together by one job of the
  // stand-in's queue, so a fan-out is one queue entry and they all see one state.
  private waiting: {
    queries: [number, { udfPath: string; args: Json }][];
    caller: SyncCaller;
    done: (result: { ts: bigint; outcomes: [number, Outcome][] }) => void;
    failed: (err: unknown) => void;
  }[] = [];

  constructor(
    private readonly host: SyncHost,
    private readonly log: (line: string) => void,
    private readonly options: SyncOptions = { pingEveryMs: PING_EVERY_MS },
  ) {}

  /** Wire into `server.on("upgrade", ...)`; anything but the sync path is refused with 404. */
  handleUpgrade = (req: http.IncomingMessage, socket: Duplex, head: Buffer) => {
    const pathname = new URL(req.url ?? "/", "http://127.0.0.1").pathname;
    if (!SYNC_PATH.test(pathname)) {
      this.log(`convex-standin WS ${pathname} 404`);
      socket.end(
        "HTTP/1.1 404 Not Found\r\nconnection: close\r\ncontent-length: 0\r\n\r\n",
      );
      return;
    }
    if (this.host.refusing()) {
      this.log(`convex-standin WS ${pathname} 503 fault=down`);
      socket.end(
        "HTTP/1.1 503 Service Unavailable\r\nconnection: close\r\ncontent-length: 0\r\n\r\n",
      );
      return;
    }
    this.wss.handleUpgrade(req, socket, head, (ws) => this.open(ws));
  };

  /** A mutation committed outside the socket (HTTP `/api/mutation`, a reset): re-run queries. */
  committed(): bigint {
    const ts = this.advanceTs();
    this.timing.committed(ts);
    this.fanOut();
    return ts;
  }

  /** Closes every socket; clients reconnect by themselves. */
  closeAll(code: number, reason: string) {
    for (const conn of [...this.connections]) conn.ws.close(code, reason);
  }

  /** Shutdown: every socket gets 1001 (going away) and is cut after 500 ms at most. */
  terminateAll() {
    for (const conn of [...this.connections]) {
      conn.ws.close(1001, "going away");
      // A client that does not answer the close handshake must not hold the exit.
      setTimeout(() => conn.ws.terminate(), 500);
    }
  }

  private advanceTs(): bigint {
    const now = BigInt(Date.now()) * 1_000_000n;
    this.ts = now > this.ts ? now : this.ts + 1n;
    this.results.clear();
    this.resultsTs = this.ts;
    return this.ts;
  }

  /** Runs a subscribed query, or reuses the result another connection got at this ts. */
  private async query(
    udfPath: string,
    args: Json,
    caller: SyncCaller,
  ): Promise<Outcome> {
    if (this.resultsTs !== this.ts) {
      this.results.clear();
      this.resultsTs = this.ts;
    }
    const key = JSON.stringify([udfPath, args, caller]);
    let outcome = this.results.get(key);
    if (outcome === undefined) {
      const started = performance.now();
      outcome = await this.call("query", udfPath, args, caller);
      this.timing.queryRuns += 1;
      this.timing.queryRunMs += performance.now() - started;
      this.results.set(key, outcome);
    } else {
      this.timing.cachedResults += 1;
    }
    return outcome;
  }

  private fanOut() {
    for (const conn of this.connections) this.requestSync(conn);
  }

  private open(ws: WebSocket) {
    const conn = new Connection(ws, this.nextConnectionId++);
    this.connections.add(conn);
    this.log(`convex-standin WS open conn=${conn.id}`);
    const every = this.options.pingEveryMs;
    conn.pinger = setInterval(() => {
      // Only on a quiet socket: any message resets the client's inactivity timer.
      if (Date.now() - conn.lastSentAt >= every * 0.9)
        conn.send({ type: "Ping" });
    }, every);
    conn.pinger.unref();
    ws.on("message", (data: RawData, isBinary: boolean) => {
      // One message at a time per connection, in arrival order.
      conn.chain = conn.chain
        .then(() => this.receive(conn, data, isBinary))
        .catch((err: unknown) => this.fatal(conn, err));
    });
    ws.on("close", (code: number) => {
      conn.closed = true;
      clearInterval(conn.pinger);
      this.connections.delete(conn);
      this.log(`convex-standin WS close conn=${conn.id} code=${code}`);
    });
    ws.on("error", (err: Error) => {
      this.log(`convex-standin WS error conn=${conn.id}: ${err.message}`);
    });
  }

  private fatal(conn: Connection, err: unknown) {
    const message = err instanceof Error ? err.message : String(err);
    this.log(`convex-standin WS fatal conn=${conn.id}: ${message}`);
    conn.send({ type: "FatalError", error: message });
    conn.closed = true;
    conn.ws.close(1011, "FatalError");
  }

  private async receive(conn: Connection, data: RawData, isBinary: boolean) {
    if (conn.closed) return;
    if (isBinary)
      throw new ProtocolError("Binary messages are not part of the protocol");
    let message: unknown;
    try {
      message = JSON.parse(data.toString());
    } catch {
      throw new ProtocolError("A message is not valid JSON");
    }
    if (!isObject(message) || typeof message.type !== "string") {
      throw new ProtocolError("A message must be an object with a type");
    }
    switch (message.type) {
      case "Connect":
        return this.connect(conn, message);
      case "ModifyQuerySet":
        return this.modifyQuerySet(conn, message);
      case "Authenticate":
        return this.authenticate(conn, message);
      case "Mutation":
        return this.mutation(conn, message);
      case "Action":
        conn.send({
          type: "ActionResponse",
          requestId: message.requestId,
          success: false,
          result: "The Convex stand-in does not run actions",
          logLines: [],
        });
        return;
      case "Event":
        return;
      default:
        throw new ProtocolError(
          `Unknown message type ${JSON.stringify(message.type)}`,
        );
    }
  }

  private connect(conn: Connection, message: Record<string, unknown>) {
    if (typeof message.sessionId === "string")
      conn.sessionId = message.sessionId;
    if (typeof message.clientTs === "number")
      conn.clockSkew = message.clientTs - Date.now();
    // Never transition a client back behind a ts it has already seen (e.g. before a restart).
    if (typeof message.maxObservedTimestamp === "string") {
      const observed = decodeTs(message.maxObservedTimestamp);
      if (observed > this.ts) this.ts = observed;
    }
    this.log(
      `convex-standin WS Connect conn=${conn.id} connectionCount=${String(message.connectionCount)} lastCloseReason=${JSON.stringify(message.lastCloseReason ?? null)}`,
    );
  }

  private modifyQuerySet(conn: Connection, message: Record<string, unknown>) {
    const { baseVersion, newVersion, modifications } = message;
    if (baseVersion !== conn.querySetVersion) {
      throw new ProtocolError(
        `ModifyQuerySet from version ${String(baseVersion)}, the server is at ${conn.querySetVersion}`,
      );
    }
    if (typeof newVersion !== "number" || !Array.isArray(modifications)) {
      throw new ProtocolError(
        "ModifyQuerySet needs newVersion and modifications",
      );
    }
    for (const mod of modifications) {
      if (!isObject(mod) || typeof mod.queryId !== "number") {
        throw new ProtocolError("A query set modification needs a queryId");
      }
      if (mod.type === "Add") {
        if (typeof mod.udfPath !== "string" || !Array.isArray(mod.args)) {
          throw new ProtocolError("Add needs udfPath and args");
        }
        conn.queries.set(mod.queryId, {
          udfPath: mod.udfPath,
          args: (mod.args[0] ?? {}) as Json,
        });
        conn.removed.delete(mod.queryId);
      } else if (mod.type === "Remove") {
        conn.queries.delete(mod.queryId);
        conn.sentResults.delete(mod.queryId);
        conn.removed.add(mod.queryId);
      } else {
        throw new ProtocolError(
          `Unknown query set modification ${JSON.stringify(mod.type)}`,
        );
      }
    }
    conn.querySetVersion = newVersion;
    this.requestSync(conn);
  }

  private async authenticate(
    conn: Connection,
    message: Record<string, unknown>,
  ) {
    const { baseVersion, tokenType } = message;
    if (typeof baseVersion !== "number")
      throw new ProtocolError("Authenticate needs baseVersion");
    let caller: SyncCaller;
    try {
      if (tokenType === "None") {
        caller = { kind: "anonymous" };
      } else if (tokenType === "User" && typeof message.value === "string") {
        caller = {
          kind: "user",
          identity: await this.host.verifyUserToken(message.value),
        };
      } else if (tokenType === "Admin" && typeof message.value === "string") {
        if (!this.host.isAdminKey(message.value)) {
          throw new Error(
            "The provided admin key was invalid for this instance",
          );
        }
        caller = isObject(message.impersonating)
          ? {
              kind: "user",
              identity: message.impersonating as Record<string, Json>,
            }
          : { kind: "admin" };
      } else {
        throw new ProtocolError(
          "Authenticate needs tokenType User, Admin or None",
        );
      }
    } catch (err) {
      if (err instanceof ProtocolError) throw err;
      // The identity stays as it was; the client refetches a token or gives up.
      this.log(
        `convex-standin WS AuthError conn=${conn.id} tokenType=${String(tokenType)}`,
      );
      conn.send({
        type: "AuthError",
        error: (err as Error).message,
        baseVersion,
        authUpdateAttempted: true,
      });
      return;
    }
    conn.caller = caller;
    conn.authExpired = false;
    conn.identityVersion = baseVersion + 1;
    this.requestSync(conn);
  }

  private async mutation(conn: Connection, message: Record<string, unknown>) {
    const { requestId, udfPath, args } = message;
    if (
      typeof requestId !== "number" ||
      typeof udfPath !== "string" ||
      !Array.isArray(args)
    ) {
      throw new ProtocolError("Mutation needs requestId, udfPath and args");
    }
    const remembered =
      conn.sessionId === null ? undefined : this.sessions.get(conn.sessionId);
    const earlier = remembered?.get(requestId);
    if (earlier !== undefined) {
      // A re-send after a reconnect: answer again without running it twice.
      conn.send(earlier);
      if (earlier.success) this.raiseMinTs(conn, decodeTs(earlier.ts));
      this.requestSync(conn);
      return;
    }
    if (this.expired(conn)) return;
    const caller = conn.caller;
    const { outcome, ts } = await this.host.serialized(async () => {
      const outcome = await this.call(
        "mutation",
        udfPath,
        args[0] ?? {},
        caller,
      );
      // Committed: the ts is taken inside the queue, so every later query run sees the write.
      return { outcome, ts: outcome.success ? this.advanceTs() : null };
    });
    const answer: MutationAnswer = outcome.success
      ? {
          type: "MutationResponse",
          requestId,
          success: true,
          result: outcome.value,
          ts: encodeTs(ts!),
          logLines: [],
        }
      : {
          type: "MutationResponse",
          requestId,
          success: false,
          result: outcome.errorMessage,
          logLines: [],
          ...(outcome.errorData === undefined
            ? {}
            : { errorData: outcome.errorData }),
        };
    this.log(
      `convex-standin WS Mutation conn=${conn.id} fn=${udfPath} outcome=${outcome.success ? "success" : "error"}`,
    );
    this.remember(conn, answer);
    conn.send(answer);
    if (ts !== null) {
      this.raiseMinTs(conn, ts);
      this.fanOut();
    }
  }

  private raiseMinTs(conn: Connection, ts: bigint) {
    if (ts > conn.minTs) conn.minTs = ts;
  }

  private remember(conn: Connection, answer: MutationAnswer) {
    if (conn.sessionId === null) return;
    let answers = this.sessions.get(conn.sessionId);
    if (answers === undefined) {
      answers = new Map();
      this.sessions.set(conn.sessionId, answers);
      if (this.sessions.size > REMEMBERED_SESSIONS) {
        this.sessions.delete(this.sessions.keys().next().value!);
      }
    }
    answers.set(answer.requestId, answer);
    if (answers.size > REMEMBERED_MUTATIONS)
      answers.delete(answers.keys().next().value!);
  }

  /** A user token past its `exp`: tell the client once and go quiet until it re-authenticates. */
  private expired(conn: Connection): boolean {
    if (conn.caller.kind !== "user") return false;
    const exp = conn.caller.identity.exp;
    if (typeof exp !== "number" || exp * 1000 > Date.now()) return false;
    if (!conn.authExpired) {
      conn.authExpired = true;
      this.log(`convex-standin WS AuthError conn=${conn.id} expired`);
      conn.send({
        type: "AuthError",
        error: "Token expired",
        baseVersion: conn.identityVersion,
        authUpdateAttempted: false,
      });
    }
    return true;
  }

  private async call(
    kind: "query" | "mutation",
    udfPath: string,
    rawArgs: unknown,
    caller: SyncCaller,
  ): Promise<Outcome> {
    const resolved = await this.host.resolve(udfPath, kind);
    if (!resolved.found)
      return { success: false, errorMessage: resolved.errorMessage };
    if (resolved.internal && caller.kind !== "admin") {
      return { success: false, errorMessage: notFound(udfPath) };
    }
    let args: Record<string, Value>;
    try {
      if (!isObject(rawArgs)) throw new Error("arguments must be an object");
      args = jsonToConvex(rawArgs as Json) as Record<string, Value>;
    } catch (err) {
      return {
        success: false,
        errorMessage: `Invalid arguments: ${(err as Error).message}`,
      };
    }
    try {
      const value = await this.host.run(
        kind,
        resolved.canonicalPath,
        args,
        caller,
      );
      return { success: true, value: convexToJson(value) as Json };
    } catch (err) {
      const { errorMessage, errorData } = this.host.functionError(err);
      return errorData === undefined
        ? { success: false, errorMessage }
        : { success: false, errorMessage, errorData: errorData as Json };
    }
  }

  /** Runs a connection's queries in the next shared job of the stand-in's queue. */
  private runQueries(
    queries: [number, { udfPath: string; args: Json }][],
    caller: SyncCaller,
  ): Promise<{ ts: bigint; outcomes: [number, Outcome][] }> {
    return new Promise((done, failed) => {
      this.waiting.push({ queries, caller, done, failed });
      if (this.waiting.length > 1) return;
      const queued = performance.now();
      void this.host.serialized(async () => {
        const started = performance.now();
        const batch = this.waiting;
        this.waiting = [];
        // convex-test checks a union by trying each member and catching the Error a miss
        // throws; capturing those errors' stack traces was a third of a liveByStatus re-run
        // (every nullable field and status of every order on the board). No stacks while the
        // re-runs run: a failed query reports its message alone anyway.
        const stackTraceLimit = Error.stackTraceLimit;
        Error.stackTraceLimit = 0;
        try {
          for (const { queries, caller, done, failed } of batch) {
            try {
              const outcomes: [number, Outcome][] = [];
              for (const [queryId, { udfPath, args }] of queries) {
                outcomes.push([
                  queryId,
                  await this.query(udfPath, args, caller),
                ]);
              }
              done({ ts: this.ts, outcomes });
            } catch (err) {
              failed(err);
            }
          }
        } finally {
          Error.stackTraceLimit = stackTraceLimit;
          const ran = performance.now() - started;
          this.timing.jobs += 1;
          this.timing.jobWaitMs += started - queued;
          this.timing.jobRunMs += ran;
          if (ran > this.timing.maxJobRunMs) this.timing.maxJobRunMs = ran;
        }
      });
    });
  }

  /** Queues one transition for `conn` unless one is already waiting (bursts coalesce). */
  private requestSync(conn: Connection) {
    if (conn.syncQueued || conn.closed) return;
    conn.syncQueued = true;
    conn.chain = conn.chain
      .then(() => this.sync(conn))
      .catch((err: unknown) => this.fatal(conn, err));
  }

  /** Re-runs the connection's queries at the current ts and sends what changed. */
  private async sync(conn: Connection) {
    conn.syncQueued = false;
    if (conn.closed || this.expired(conn)) return;
    const target = {
      querySet: conn.querySetVersion,
      identity: conn.identityVersion,
    };
    const caller = conn.caller;
    const queries = [...conn.queries];
    const { ts, outcomes } = await this.runQueries(queries, caller);
    if (conn.closed) return;
    // Each modification as JSON text: a shared result's JSON is spliced in, not re-made.
    const modifications: string[] = [];
    for (const queryId of conn.removed)
      modifications.push(JSON.stringify({ type: "QueryRemoved", queryId }));
    conn.removed.clear();
    for (const [queryId, outcome] of outcomes) {
      // Removed while the queries ran: its result is not wanted any more.
      if (!conn.queries.has(queryId)) continue;
      const { json, value } = serialize(outcome);
      if (conn.sentResults.get(queryId) === json) continue;
      conn.sentResults.set(queryId, json);
      modifications.push(
        outcome.success
          ? `{"type":"QueryUpdated","queryId":${JSON.stringify(queryId)},"value":${value},"logLines":[],"journal":null}`
          : JSON.stringify({
              type: "QueryFailed",
              queryId,
              errorMessage: outcome.errorMessage,
              // Absent unless a ConvexError carried data: the client turns any value here,
              // null included, into a ConvexError.
              ...(outcome.errorData === undefined
                ? {}
                : { errorData: outcome.errorData }),
              logLines: [],
              journal: null,
            }),
      );
    }
    const moved =
      target.querySet !== conn.sent.querySet ||
      target.identity !== conn.sent.identity ||
      conn.minTs > conn.sent.ts;
    if (modifications.length === 0 && !moved) return;
    const end: Version = {
      ...target,
      ts: ts > conn.sent.ts ? ts : conn.sent.ts,
    };
    const wire = (v: Version) => ({
      querySet: v.querySet,
      identity: v.identity,
      ts: encodeTs(v.ts),
    });
    const envelope = JSON.stringify({
      type: "Transition",
      startVersion: wire(conn.sent),
      endVersion: wire(end),
      ...(conn.clockSkew === undefined
        ? {}
        : { clientClockSkew: conn.clockSkew }),
      serverTs: Number(BigInt(Date.now()) * 1_000_000n),
    });
    conn.sendRaw(
      `${envelope.slice(0, -1)},"modifications":[${modifications.join(",")}]}`,
    );
    this.timing.sent(conn.sent.ts, end.ts);
    conn.sent = end;
  }
}
