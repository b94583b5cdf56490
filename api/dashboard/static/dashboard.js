// The zvt dashboard: reads the API with the user's bearer token (kept in sessionStorage for this tab only)
// and follows the /stream WebSocket. Everything shown comes from outside the page, so it is only ever set
// as text (textContent, Node.append of strings, setAttribute), never parsed as markup. No framework, no build.
"use strict";

(() => {
  const TOKEN_KEY = "zvt-dashboard-token";
  const OPEN_STATES = new Set(["validated", "accepted", "partially_filled"]);
  const KEPT_ROWS = 100; // fills and alerts kept on screen
  const ANSWER_WAIT_MS = 90000; // how long the page looks for a cancel's answer in the order's trace
  const SVG = "http://www.w3.org/2000/svg";

  const state = {
    token: null, user: null, role: null, account: "",
    socket: null, retryMs: 1000, reconnect: null, timers: [], pending: {}, cancelling: new Set(),
    positions: new Map(), fills: [], alerts: [],
  };
  const $ = (id) => document.getElementById(id);

  // ---- building the page from data, as text only ----
  function el(tag, attributes = {}, ...children) {
    const node = document.createElement(tag);
    for (const [name, value] of Object.entries(attributes)) {
      if (value === null || value === undefined) continue;
      if (name === "class") node.className = value;
      else if (name === "data") Object.assign(node.dataset, value);
      else node.setAttribute(name, value);
    }
    for (const child of children) node.append(child instanceof Node ? child : text(child));
    return node;
  }
  const text = (value) => (value === null || value === undefined ? "" : String(value));
  const time = (iso) => {
    const at = new Date(iso);
    return Number.isNaN(at.getTime()) ? text(iso) : at.toISOString().replace("T", " ").slice(0, 23) + "Z";
  };
  // An exact decimal string without the trailing zeros of its fraction ("60001.000" -> "60001"): the
  // same value, shorter; anything else as it is.
  const num = (value) => {
    const shown = text(value);
    return /^-?\d+\.\d+$/.test(shown) ? shown.replace(/\.?0+$/, "") : shown;
  };
  const signed = (value) => {
    const shown = num(value);
    return el("td", { class: shown.startsWith("-") ? "negative" : /^[0.]*$/.test(shown) ? null : "positive" }, shown);
  };
  const cell = (value, attributes = {}) => el("td", attributes, text(value));

  function fill(tbody, rows, empty) {
    tbody.replaceChildren(...(rows.length ? rows : [el("tr", {}, el("td", { class: "empty", colspan: "20" }, empty))]));
  }

  function notice(message) { $("notice").textContent = message || ""; }

  const now = () => time(new Date().toISOString()).slice(11);
  function activity(message, data = {}) {
    const item = el("li", { data }, `${now()} ${message}`);
    $("activity").prepend(item);
    return item;
  }
  function settle(item, outcome, message) {
    item.dataset.outcome = outcome;
    item.textContent = `${now()} ${message}`;
  }

  // ---- the API ----
  class ApiError extends Error {
    constructor(status, message) { super(message); this.status = status; }
  }

  function reason(body) {
    if (body && Array.isArray(body.detail)) {
      return body.detail.map((d) => `${(d.loc || []).filter((p) => p !== "body").join(".")}: ${d.msg}`).join("; ");
    }
    if (body && body.detail) return text(body.detail);
    return text(body);
  }

  async function api(path, options = {}) {
    const headers = { Authorization: `Bearer ${state.token}` };
    if (options.body !== undefined) headers["Content-Type"] = "application/json";
    const response = await fetch(path, {
      method: options.method || "GET", headers,
      body: options.body === undefined ? undefined : JSON.stringify(options.body),
    });
    const raw = await response.text();
    let body = raw;
    try { body = raw ? JSON.parse(raw) : null; } catch { /* not JSON: keep the text */ }
    if (!response.ok) throw new ApiError(response.status, `${response.status}: ${reason(body)}`);
    return body;
  }

  function query(extra = {}) {
    const params = new URLSearchParams();
    if (state.account) params.set("account_id", state.account);
    for (const [name, value] of Object.entries(extra)) params.set(name, value);
    const built = params.toString();
    return built ? `?${built}` : "";
  }

  // Refreshes of one kind run one at a time; one asked for meanwhile runs once after it.
  function refresh(name, load) {
    const pending = state.pending[name] || (state.pending[name] = { running: false, again: false });
    if (pending.running) { pending.again = true; return; }
    pending.running = true;
    load().catch(shown).finally(() => {
      pending.running = false;
      if (pending.again) { pending.again = false; refresh(name, load); }
    });
  }
  const soon = {};
  function later(name, load, ms = 800) {
    clearTimeout(soon[name]);
    soon[name] = setTimeout(() => refresh(name, load), ms);
  }
  function shown(error) {
    if (error instanceof ApiError && error.status === 401) { signOut("the token was refused (401): sign in again"); return; }
    notice(error.message || text(error));
  }

  // ---- panels ----
  function renderPositions() {
    const rows = [...state.positions.values()]
      .sort((a, b) => `${a.p.account_id} ${a.p.symbol}`.localeCompare(`${b.p.account_id} ${b.p.symbol}`))
      .map(({ p, source }) => el("tr", { data: { account: p.account_id, symbol: p.symbol, source }, class: source === "stream" ? "fresh" : null },
        cell(p.account_id), cell(p.symbol), cell(num(p.quantity)), cell(num(p.average_cost)), cell(num(p.mark_price)),
        signed(p.realized_pnl), signed(p.unrealized_pnl), cell(num(p.fees_paid)), cell(time(p.updated_at || p.timestamp))));
    fill($("positions").tBodies[0], rows, "no positions");
  }

  async function loadPositions() {
    const found = await api(`/positions${query()}`);
    state.positions = new Map(found.map((p) => [`${p.account_id}|${p.symbol}`, { p, source: "rest" }]));
    renderPositions();
  }

  async function loadPnl() {
    const found = await api(`/pnl${query()}`);
    const rows = found.by_strategy.map((line) => el("tr", { data: { strategy: line.strategy_id, account: line.account_id } },
      cell(line.strategy_id), cell(line.account_id), cell(line.symbol), cell(line.fills), cell(num(line.quantity)),
      cell(num(line.average_cost)), cell(num(line.mark)), signed(line.realized_pnl), signed(line.unrealized_pnl),
      cell(num(line.fees)), signed(line.net_pnl)));
    fill($("pnl").tBodies[0], rows, "no fills in the window");
  }

  function svg(tag, attributes = {}, label = null) {
    const node = document.createElementNS(SVG, tag);
    for (const [name, value] of Object.entries(attributes)) node.setAttribute(name, String(value));
    if (label !== null) node.textContent = label;
    return node;
  }

  function drawCurve(points) {
    const box = $("equity");
    box.dataset.points = String(points.length);
    if (!points.length) { box.replaceChildren(el("p", { class: "empty" }, "no fills in the window: nothing to draw")); return; }
    const [width, height, left, right, top, bottom] = [600, 220, 70, 10, 10, 24];
    const xs = points.map(([at]) => new Date(at).getTime());
    const ys = points.map(([, value]) => Number(value));
    let [x0, x1] = [Math.min(...xs), Math.max(...xs)];
    let [y0, y1] = [Math.min(0, ...ys), Math.max(0, ...ys)];
    if (x1 === x0) { x0 -= 1000; x1 += 1000; }
    if (y1 === y0) { y0 -= 1; y1 += 1; }
    const x = (v) => left + ((v - x0) / (x1 - x0)) * (width - left - right);
    const y = (v) => top + (1 - (v - y0) / (y1 - y0)) * (height - top - bottom);
    const chart = svg("svg", { viewBox: `0 0 ${width} ${height}`, role: "img", "aria-label": "equity curve" });
    chart.append(
      svg("line", { class: "axis", x1: left, x2: left, y1: top, y2: height - bottom }),
      svg("line", { class: "zero", x1: left, x2: width - right, y1: y(0), y2: y(0) }),
      svg("text", { x: left - 4, y: y(y1) + 4, "text-anchor": "end" }, y1.toFixed(2)),
      svg("text", { x: left - 4, y: y(y0) + 4, "text-anchor": "end" }, y0.toFixed(2)),
      svg("text", { x: left, y: height - 6 }, time(points[0][0]).slice(11, 19)),
      svg("text", { x: width - right, y: height - 6, "text-anchor": "end" }, time(points[points.length - 1][0]).slice(11, 19)),
    );
    const path = xs.map((v, i) => `${i ? "L" : "M"}${x(v).toFixed(1)},${y(ys[i]).toFixed(1)}`).join(" ");
    chart.append(svg("path", { class: "curve", d: path }));
    const last = xs.length - 1;
    chart.append(svg("circle", { class: "point", cx: x(xs[last]), cy: y(ys[last]), r: 3.5 }));
    box.replaceChildren(chart, el("p", {}, `last: ${num(points[last][1])} at ${time(points[last][0])} (${points.length} points)`));
  }

  async function loadEquity() {
    const found = await api(`/equity${query()}`);
    drawCurve(found.curves[found.total_key] || []);
  }

  async function loadLatency() {
    const found = await api(`/latency${query()}`);
    const rows = found.steps.map((s) => el("tr", { data: { step: s.step } },
      cell(s.step), cell(s.count), cell(s.p50), cell(s.p90), cell(s.p99), cell(s.max)));
    fill($("latency").tBodies[0], rows, "no orders in the window");
  }

  async function loadOrders() {
    const [open, recent] = await Promise.all([api(`/orders/open${query()}`), api(`/orders${query({ limit: 25 })}`)]);
    const trader = state.role === "trader";
    const openRows = open.map((o) => el("tr", { data: { orderId: o.order_id, state: o.state } },
      cell(o.order_id), cell(o.account_id), cell(o.symbol), cell(o.side), cell(o.order_type),
      cell(num(o.limit_price ?? o.stop_price)), cell(num(o.quantity)), cell(num(o.filled)), cell(o.state, { class: `state-${o.state}` }),
      cell(o.venue), el("td", {}, trader && OPEN_STATES.has(o.state) ? cancelButton(o) : "")));
    fill($("open-orders").tBodies[0], openRows, "no open orders");
    const recentRows = recent.map((o) => el("tr", { data: { orderId: o.order_id, status: o.status } },
      cell(time(o.requested_at)), cell(o.order_id), cell(o.account_id), cell(o.strategy_id), cell(o.symbol),
      cell(o.side), cell(o.order_type), cell(num(o.limit_price)), cell(num(o.quantity)), cell(num(o.filled)),
      cell(o.status, { class: `state-${o.status}` })));
    fill($("orders").tBodies[0], recentRows, "no orders in the window");
  }

  function renderFills() {
    const rows = state.fills.map(({ f, source }) => el("tr", { data: { orderId: f.order_id, fillId: f.fill_id, source }, class: source === "stream" ? "fresh" : null },
      cell(time(f.timestamp)), cell(f.order_id), cell(f.account_id), cell(f.strategy_id), cell(f.symbol), cell(f.side),
      cell(num(f.fill_quantity)), cell(num(f.fill_price)), cell(num(f.fee)), cell(f.venue), cell(f.liquidity), cell(f.status, { class: `state-${f.status}` })));
    fill($("fills").tBodies[0], rows, "no fills in the window");
  }

  function renderAlerts() {
    const rows = state.alerts.map(({ kind, e, source }) => el("tr", { data: { kind, source } },
      cell(time(e.timestamp)), cell(kind), cell(e.severity, { class: `severity-${e.severity}` }), cell(e.account_id),
      cell(kind === "breach" ? `${e.rule}${e.symbol ? ` ${e.symbol}` : ""}: ${num(e.observed)} over ${num(e.limit)}` : `${e.source}: ${e.message}`, { class: "what" })));
    fill($("alerts").tBodies[0], rows, "no alerts or breaches in the window");
  }

  async function loadFeeds() {
    const [fills, alerts, breaches] = await Promise.all([
      api(`/fills${query({ limit: 50 })}`), api(`/alerts${query({ limit: 50 })}`), api(`/breaches${query({ limit: 50 })}`),
    ]);
    state.fills = fills.map((f) => ({ f, source: "rest" }));
    state.alerts = [...alerts.map((e) => ({ kind: "alert", e, source: "rest" })), ...breaches.map((e) => ({ kind: "breach", e, source: "rest" }))]
      .sort((a, b) => text(b.e.timestamp).localeCompare(text(a.e.timestamp))).slice(0, KEPT_ROWS);
    renderFills();
    renderAlerts();
  }

  const loaders = {
    positions: loadPositions, pnl: loadPnl, equity: loadEquity, latency: loadLatency, orders: loadOrders, feeds: loadFeeds,
  };
  function loadAll() { for (const [name, load] of Object.entries(loaders)) refresh(name, load); }
  function afterFill() {
    later("pnl", loadPnl); later("equity", loadEquity); later("latency", loadLatency); later("orders", loadOrders, 300);
  }

  // ---- orders from the page ----
  function ticketBody(form) {
    const data = Object.fromEntries(new FormData(form).entries());
    const body = { account_id: data.account_id.trim(), symbol: data.symbol.trim(), side: data.side, quantity: data.quantity.trim(),
      order_type: data.order_type, time_in_force: data.time_in_force };
    if (data.strategy_id.trim()) body.strategy_id = data.strategy_id.trim();
    if (data.limit_price.trim()) body.limit_price = data.limit_price.trim();
    return body;
  }

  async function place(event) {
    event.preventDefault();
    const body = ticketBody(event.target);
    const terms = `${body.side} ${body.quantity} ${body.symbol} ${body.order_type}${body.limit_price ? ` @ ${body.limit_price}` : ""} ${body.time_in_force}`;
    try {
      const placed = await api("/orders", { method: "POST", body });
      activity(`order ${placed.order_id} requested: ${terms} (${body.account_id})`, { orderId: placed.order_id, action: "place", outcome: "sent" });
      later("orders", loadOrders, 500);
    } catch (error) {
      activity(`order refused: ${error.message}`, { action: "place", outcome: "refused" });
    }
  }

  function cancelButton(order) {
    const button = el("button", { type: "button", class: "cancel", data: { orderId: order.order_id } }, "Cancel");
    button.disabled = state.cancelling.has(order.order_id); // asked already: the answer is on its way
    button.addEventListener("click", () => cancel(order.order_id, button));
    return button;
  }

  function descendants(nodes) { return nodes.flatMap((node) => [node, ...descendants(node.children || [])]); }

  async function cancel(orderId, button) {
    button.disabled = true;
    state.cancelling.add(orderId);
    let entry;
    try {
      const request = await api(`/orders/${encodeURIComponent(orderId)}/cancel`, { method: "POST" });
      entry = activity(`cancel of ${orderId} requested`, { orderId, action: "cancel", outcome: "sent" });
      const deadline = Date.now() + ANSWER_WAIT_MS;
      while (Date.now() < deadline) {
        await new Promise((resolve) => setTimeout(resolve, 1000));
        const traced = descendants(await api(`/orders/${encodeURIComponent(orderId)}/trace`));
        const asked = traced.find((node) => node.event_id === request.event_id);
        const answer = asked && descendants(asked.children).find((node) => node.event_type === "order.canceled" || node.event_type === "order.cancel_rejected");
        if (answer) {
          const done = answer.event_type === "order.canceled";
          settle(entry, done ? "done" : "refused", `${done ? "canceled" : "cancel refused"}: ${answer.summary}`);
          refresh("orders", loadOrders);
          return;
        }
      }
      settle(entry, "unanswered", `cancel of ${orderId}: no answer in ${ANSWER_WAIT_MS / 1000} s (the order stage answers cancels only with ZVT_PAPER_ENGINE; see its trace)`);
    } catch (error) {
      if (entry) settle(entry, "refused", `cancel of ${orderId}: ${error.message}`);
      else activity(`cancel of ${orderId} refused: ${error.message}`, { orderId, action: "cancel", outcome: "refused" });
    } finally {
      state.cancelling.delete(orderId);
      button.disabled = false;
    }
  }

  // ---- the stream ----
  function streamStatus(name, label) {
    const badge = $("stream-status");
    badge.dataset.state = name;
    badge.textContent = label;
  }

  function connectStream() {
    const params = new URLSearchParams({ token: state.token });
    if (state.account) params.set("account_id", state.account);
    const scheme = location.protocol === "https:" ? "wss:" : "ws:";
    const socket = new WebSocket(`${scheme}//${location.host}/stream?${params}`);
    state.socket = socket;
    streamStatus("connecting", "stream connecting");
    socket.addEventListener("message", (message) => {
      let parsed;
      try { parsed = JSON.parse(message.data); } catch { return; }
      onStream(parsed);
    });
    socket.addEventListener("close", (closed) => {
      if (state.socket !== socket) return; // replaced or signed out
      state.socket = null;
      if (closed.code === 1008) { streamStatus("refused", `stream refused: ${closed.reason || "token"}`); return; }
      streamStatus("closed", `stream closed (${closed.code}), retrying`);
      state.reconnect = setTimeout(() => { connectStream(); loadAll(); }, state.retryMs);
      state.retryMs = Math.min(state.retryMs * 2, 15000);
    });
  }

  function onStream({ channel, event }) {
    if (channel === "ready") { state.retryMs = 1000; streamStatus("live", "stream live"); return; }
    if (!event || typeof event !== "object") return;
    if (channel === "fills") {
      if (state.fills.some(({ f }) => f.event_id === event.event_id)) return;
      state.fills = [{ f: event, source: "stream" }, ...state.fills].slice(0, KEPT_ROWS);
      renderFills();
      afterFill();
    } else if (channel === "positions") {
      state.positions.set(`${event.account_id}|${event.symbol}`, { p: event, source: "stream" });
      renderPositions();
    } else if (channel === "alerts" || channel === "breaches") {
      state.alerts = [{ kind: channel === "alerts" ? "alert" : "breach", e: event, source: "stream" }, ...state.alerts].slice(0, KEPT_ROWS);
      renderAlerts();
    }
  }

  // ---- signing in and out ----
  async function signIn(token) {
    state.token = token;
    try {
      const me = await api("/whoami");
      Object.assign(state, { user: me.user, role: me.role });
    } catch (error) {
      state.token = null;
      sessionStorage.removeItem(TOKEN_KEY);
      notice(error instanceof ApiError && error.status === 401 ? "token refused: no user holds it" : error.message);
      return;
    }
    sessionStorage.setItem(TOKEN_KEY, token);
    notice("");
    $("token").value = "";
    $("login").hidden = true;
    $("filter").hidden = false;
    $("sign-out").hidden = false;
    $("panels").hidden = false;
    $("ticket-panel").hidden = state.role !== "trader";
    $("who").textContent = `${state.user} (${state.role})`;
    $("who").dataset.role = state.role;
    start();
  }

  function start() {
    connectStream();
    loadAll();
    state.timers = [
      setInterval(() => refresh("orders", loadOrders), 3000),
      setInterval(() => refresh("latency", loadLatency), 10000),
      setInterval(() => { refresh("pnl", loadPnl); refresh("equity", loadEquity); }, 15000),
    ];
  }

  function stop() {
    state.timers.forEach(clearInterval);
    state.timers = [];
    clearTimeout(state.reconnect);
    const socket = state.socket;
    state.socket = null;
    if (socket) socket.close();
    streamStatus("off", "stream off");
  }

  function signOut(message) {
    stop();
    sessionStorage.removeItem(TOKEN_KEY);
    Object.assign(state, { token: null, user: null, role: null, positions: new Map(), fills: [], alerts: [] });
    $("panels").hidden = true;
    for (const table of document.querySelectorAll("#panels tbody")) table.replaceChildren(); // not the next user's
    $("activity").replaceChildren();
    $("equity").replaceChildren();
    $("login").hidden = false;
    $("filter").hidden = true;
    $("sign-out").hidden = true;
    $("who").textContent = "";
    notice(message);
  }

  document.addEventListener("DOMContentLoaded", () => {
    $("login").addEventListener("submit", (event) => {
      event.preventDefault();
      const token = $("token").value.trim();
      if (token) signIn(token);
    });
    $("filter").addEventListener("submit", (event) => {
      event.preventDefault();
      state.account = $("account-filter").value.trim();
      stop();
      start();
    });
    $("sign-out").addEventListener("click", () => signOut(""));
    $("ticket").addEventListener("submit", place);
    const kept = sessionStorage.getItem(TOKEN_KEY);
    if (kept) signIn(kept);
  });
})();
