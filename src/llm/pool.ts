// Several OpenAI-compatible endpoints (e.g. vLLM data-parallel replicas) behind one LlmClient-compatible chat():
// bounded concurrency per endpoint, least-loaded routing, token-bucket rate limits, passive health checks with
// failover. Circuit-breaker pattern (closed / open with exponential cool-down / half-open with one probe request).
import { LlmClient, LlmError, type ChatRequest, type ChatResult, type LlmClientOptions, type LlmStats } from "./client";

export interface EndpointSpec {
  /** e.g. "http://10.0.0.2:8000/v1". */
  baseURL: string;
  /** Model id on this endpoint (default: the pool's model). */
  model?: string;
  /** Default: the pool's apiKey / environment. Never logged. */
  apiKey?: string;
  /** Requests in flight at once on this endpoint (default 4). */
  concurrency?: number;
  /** Requests per second allowed (token bucket); default unlimited. */
  rps?: number;
  /** Bucket size (default max(1, rps)). */
  burst?: number;
}

export interface EndpointPoolOptions extends Omit<LlmClientOptions, "baseURL" | "model" | "concurrency" | "maxRetries"> {
  endpoints: Array<EndpointSpec | string>;
  model: string;
  /** Attempts per chat() across endpoints before giving up (default 3 x endpoints + 2). */
  maxAttempts?: number;
  /** Retries on the same endpoint before failing over (default 0: fail over at once). */
  retriesPerEndpoint?: number;
  /** First cool-down of a failed endpoint (default 2,000 ms); doubles per consecutive failure up to maxCooldownMs. */
  cooldownMs?: number;
  /** Default 60,000 ms. */
  maxCooldownMs?: number;
  /** Observer for failovers. */
  onPoolEvent?: (e: PoolEvent) => void;
}

export type PoolEvent =
  | { type: "down"; endpoint: string; reason: string; cooldownMs: number }
  | { type: "up"; endpoint: string }
  | { type: "failover"; endpoint: string; attempt: number; reason: string };

export interface EndpointStatus {
  baseURL: string;
  inFlight: number;
  concurrency: number;
  /** Successful requests. */
  served: number;
  /** Failed attempts (transport errors, 429, 5xx). */
  failures: number;
  healthy: boolean;
}

interface Endpoint {
  spec: Required<Pick<EndpointSpec, "baseURL" | "concurrency">> & EndpointSpec;
  client: LlmClient;
  inFlight: number;
  served: number;
  failures: number;
  /** Consecutive failures (0 = healthy; > 0 = at most one probe in flight). */
  streak: number;
  downUntil: number;
  tokens: number;
  refilledAt: number;
}

interface Waiter {
  resolve: (ep: Endpoint) => void;
}

/** Transport failures and overload answers: worth trying on another endpoint. */
export function isFailoverError(e: unknown): e is LlmError {
  if (!(e instanceof LlmError)) return false;
  if (e.kind === "connection" || e.kind === "timeout" || e.kind === "bad_response") return true;
  return e.kind === "http" && e.status !== undefined && (e.status === 408 || e.status === 409 || e.status === 429 || e.status >= 500);
}

/**
 * An LlmClient over several endpoints. It extends LlmClient so it can be passed anywhere one is expected (judges,
 * OpenAiChatModel, the LLM synthesiser); chat() routes each request to the least-loaded healthy endpoint with a free
 * slot and a rate-limit token. A transport failure marks the endpoint down (cool-down doubling per failure, then one
 * probe request) and the same request is sent to another endpoint; every chat() call resolves or rejects exactly once,
 * so callers never see a request lost or duplicated.
 */
export class EndpointPool extends LlmClient {
  private readonly eps: Endpoint[];
  private readonly waiters: Waiter[] = [];
  private timer: NodeJS.Timeout | null = null;
  private readonly maxAttempts: number;
  private readonly cooldownMs: number;
  private readonly maxCooldownMs: number;
  private readonly onPoolEvent: ((e: PoolEvent) => void) | undefined;
  private poolCalls = 0;
  private failovers = 0;
  private poolFailures = 0;

  constructor(options: EndpointPoolOptions) {
    const specs = options.endpoints.map((e) => (typeof e === "string" ? { baseURL: e } : e));
    if (specs.length === 0) throw new LlmError("connection", "EndpointPool needs at least one endpoint", 0);
    const { endpoints: _e, maxAttempts, retriesPerEndpoint, cooldownMs, maxCooldownMs, onPoolEvent, ...shared } = options;
    super({ ...shared, baseURL: specs[0]!.baseURL, model: options.model, maxRetries: 0, concurrency: 1 });
    const now = Date.now();
    this.eps = specs.map((s) => {
      const concurrency = Math.max(1, s.concurrency ?? 4);
      return {
        spec: { ...s, concurrency },
        client: new LlmClient({
          ...shared,
          baseURL: s.baseURL,
          model: s.model ?? options.model,
          ...(s.apiKey !== undefined ? { apiKey: s.apiKey } : {}),
          concurrency,
          maxRetries: Math.max(0, retriesPerEndpoint ?? 0),
        }),
        inFlight: 0, served: 0, failures: 0, streak: 0, downUntil: 0,
        tokens: s.rps !== undefined ? Math.max(1, s.burst ?? s.rps) : Infinity,
        refilledAt: now,
      };
    });
    this.maxAttempts = Math.max(1, maxAttempts ?? 3 * specs.length + 2);
    this.cooldownMs = Math.max(1, cooldownMs ?? 2_000);
    this.maxCooldownMs = Math.max(this.cooldownMs, maxCooldownMs ?? 60_000);
    this.onPoolEvent = onPoolEvent;
  }

  /** Per-endpoint load and health. */
  endpointStatus(): EndpointStatus[] {
    const now = Date.now();
    return this.eps.map((e) => ({
      baseURL: e.spec.baseURL, inFlight: e.inFlight, concurrency: e.spec.concurrency, served: e.served, failures: e.failures,
      healthy: e.streak === 0 || now >= e.downUntil,
    }));
  }

  /** Requests moved to another endpoint after a failure. */
  get failoverCount(): number {
    return this.failovers;
  }

  override stats(): LlmStats {
    const sum: LlmStats = { calls: this.poolCalls, requests: 0, cacheHits: 0, retries: this.failovers, failures: this.poolFailures, invalid: 0, promptTokens: 0, completionTokens: 0, costUsd: 0 };
    for (const e of this.eps) {
      const s = e.client.stats();
      sum.requests += s.requests;
      sum.cacheHits += s.cacheHits;
      sum.retries += s.retries;
      sum.invalid += s.invalid;
      sum.promptTokens += s.promptTokens;
      sum.completionTokens += s.completionTokens;
      sum.costUsd += s.costUsd;
    }
    return sum;
  }

  override formatStats(): string {
    const per = this.endpointStatus().map((e) => `${e.baseURL}: ${e.served} ok, ${e.failures} failed${e.healthy ? "" : " (down)"}`).join("; ");
    const s = this.stats();
    return `requests ${s.requests} (failovers ${this.failovers}, invalid ${s.invalid}), cache hits ${s.cacheHits}, ` +
      `tokens ${s.promptTokens} in / ${s.completionTokens} out, cost $${s.costUsd.toFixed(4)} | ${per}`;
  }

  /** Model ids of the first endpoint that answers. */
  override async listModels(): Promise<string[]> {
    let last: unknown;
    for (const e of this.eps) {
      try {
        return await e.client.listModels();
      } catch (err) {
        last = err;
      }
    }
    throw last;
  }

  override async chat<T = unknown>(req: ChatRequest<T>): Promise<ChatResult<T>> {
    this.poolCalls++;
    let lastError: LlmError | null = null;
    for (let attempt = 1; attempt <= this.maxAttempts; attempt++) {
      const ep = await this.acquire(req.signal);
      try {
        const r = await ep.client.chat(req);
        this.succeed(ep);
        return r;
      } catch (e) {
        if (!isFailoverError(e)) {
          this.poolFailures++;
          throw e;
        }
        lastError = e;
        this.fail(ep, e.message);
        if (attempt < this.maxAttempts) {
          this.failovers++;
          this.onPoolEvent?.({ type: "failover", endpoint: ep.spec.baseURL, attempt, reason: e.message });
        }
      } finally {
        ep.inFlight--;
        this.pump();
      }
    }
    this.poolFailures++;
    throw new LlmError(lastError?.kind ?? "connection", `all ${this.eps.length} endpoints failed after ${this.maxAttempts} attempts: ${lastError?.message ?? "?"}`,
      this.maxAttempts, lastError?.status, { cause: lastError });
  }

  private succeed(ep: Endpoint): void {
    ep.served++;
    if (ep.streak > 0) {
      ep.streak = 0;
      ep.downUntil = 0;
      this.onPoolEvent?.({ type: "up", endpoint: ep.spec.baseURL });
    }
  }

  private fail(ep: Endpoint, reason: string): void {
    ep.failures++;
    ep.streak++;
    const cooldownMs = Math.min(this.maxCooldownMs, this.cooldownMs * 2 ** (ep.streak - 1));
    ep.downUntil = Date.now() + cooldownMs;
    this.onPoolEvent?.({ type: "down", endpoint: ep.spec.baseURL, reason, cooldownMs });
  }

  private acquire(signal?: AbortSignal): Promise<Endpoint> {
    return new Promise((resolve, reject) => {
      if (signal?.aborted) return reject(new LlmError("aborted", "request aborted", 0));
      const w: Waiter = { resolve };
      signal?.addEventListener("abort", () => {
        const i = this.waiters.indexOf(w);
        if (i >= 0) {
          this.waiters.splice(i, 1);
          reject(new LlmError("aborted", "request aborted", 0));
        }
      }, { once: true });
      this.waiters.push(w);
      this.pump();
    });
  }

  /** Hands free slots to waiters in arrival order; schedules a wake-up for cool-downs and rate-limit refills. */
  private pump(): void {
    const now = Date.now();
    for (const e of this.eps) {
      const rps = e.spec.rps;
      if (rps !== undefined) {
        const cap = Math.max(1, e.spec.burst ?? rps);
        e.tokens = Math.min(cap, e.tokens + ((now - e.refilledAt) / 1000) * rps);
      }
      e.refilledAt = now;
    }
    while (this.waiters.length > 0) {
      const ep = this.pick(now);
      if (ep === null) break;
      ep.inFlight++;
      if (ep.tokens !== Infinity) ep.tokens -= 1;
      this.waiters.shift()!.resolve(ep);
    }
    if (this.timer !== null) {
      clearTimeout(this.timer);
      this.timer = null;
    }
    if (this.waiters.length > 0) {
      let wake = Infinity;
      for (const e of this.eps) {
        if (e.streak > 0 && e.downUntil > now) wake = Math.min(wake, e.downUntil - now);
        else if (e.tokens < 1 && e.spec.rps !== undefined) wake = Math.min(wake, ((1 - e.tokens) / e.spec.rps) * 1000);
      }
      if (wake !== Infinity) {
        this.timer = setTimeout(() => this.pump(), Math.max(1, Math.ceil(wake)));
        this.timer.unref?.();
      }
    }
  }

  /** Least-loaded available endpoint (in-flight / concurrency, then fewer served, then order), or null. */
  private pick(now: number): Endpoint | null {
    let best: Endpoint | null = null;
    let bestLoad = Infinity;
    for (const e of this.eps) {
      if (e.streak > 0 && now < e.downUntil) continue;
      const cap = e.streak > 0 ? 1 : e.spec.concurrency;
      if (e.inFlight >= cap || e.tokens < 1) continue;
      const load = e.inFlight / e.spec.concurrency;
      if (best === null || load < bestLoad || (load === bestLoad && e.served < best.served)) {
        best = e;
        bestLoad = load;
      }
    }
    return best;
  }
}

/**
 * One LlmClient for a role from one or several base URLs (a list or a comma-separated string): a plain LlmClient
 * for one URL, an EndpointPool for several. CLI flags such as --base-url can pass their value straight through.
 */
export function createLlmClient(options: Omit<LlmClientOptions, "baseURL"> & { baseURL: string | string[] } & Partial<Pick<EndpointPoolOptions, "maxAttempts" | "cooldownMs" | "onPoolEvent">>): LlmClient {
  const urls = (Array.isArray(options.baseURL) ? options.baseURL : options.baseURL.split(",")).map((u) => u.trim()).filter(Boolean);
  const { maxAttempts, cooldownMs, onPoolEvent, baseURL: _b, ...rest } = options;
  if (urls.length === 1) return new LlmClient({ ...rest, baseURL: urls[0]! });
  const { concurrency, maxRetries: _r, ...shared } = rest;
  return new EndpointPool({
    ...shared,
    endpoints: urls.map((u) => ({ baseURL: u, ...(concurrency !== undefined ? { concurrency } : {}) })),
    ...(maxAttempts !== undefined ? { maxAttempts } : {}),
    ...(cooldownMs !== undefined ? { cooldownMs } : {}),
    ...(onPoolEvent !== undefined ? { onPoolEvent } : {}),
  });
}
