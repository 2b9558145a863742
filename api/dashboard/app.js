// The risk desk. Invariants: every server value is written with textContent (never as HTML);
// tables show the decimal strings the API sent; numbers are parsed (Number) only to draw charts
// and to sort; authentication goes through auth.js only. When a call or the live socket fails the
// page says so (body.stale, banner, badge) and keeps retrying; the socket reconnects with backoff
// and fills the gap from /risk/liquidations.
"use strict";

const REFRESH_MS = 2000;
const SERIES_POINTS = 600;
const FEED_ROWS = 200;
const COLORS = ["#f5a524", "#3e8ed0", "#a78bfa", "#2dd4bf", "#f472b6", "#94a3b8"];
const REASON_COLORS = { LIQUIDATION_FEE: "#30a46c", INSURANCE_CLEAR: "#e5484d", INSURANCE_PAYOUT: "#f5a524",
                        FUNDING_FEE: "#94a3b8", TRADE: "#a78bfa", DEPOSIT: "#3e8ed0" };

const $ = (id) => document.getElementById(id);
const desk = {
  symbol: null, symbols: [], tab: "overview", timer: null, socket: null, backoff: 1000, reconnect: null,
  seen: new Set(), feed: [], nearest: [], sort: { key: "marginRatio", dir: -1 }, charts: {},
  prices: [], venues: new Map(), openInterest: [], drill: null, trail: null, stressRows: 0,
};

// True when `data` differs from what `key` showed last (tables are redrawn only then, so a row
// being clicked or a reason being chosen is not replaced under the user).
const shown = new Map();
function changed(key, data) {
  const text = JSON.stringify(data);
  if (shown.get(key) === text) return false;
  shown.set(key, text);
  return true;
}

function say(text) { $("message").textContent = text; }
function time(ms) { return ms ? new Date(ms).toISOString().slice(11, 19) : "–"; }
function num(text) { return text === null || text === undefined ? null : Number(text); }

function row(cells, attributes, classes) {
  const tr = document.createElement("tr");
  for (const [name, value] of Object.entries(attributes || {})) tr.dataset[name] = String(value);
  if (classes) tr.className = classes;
  for (const cell of cells) {
    const td = document.createElement("td");
    if (cell instanceof Node) td.appendChild(cell); else td.textContent = cell === null || cell === undefined ? "–" : String(cell);
    tr.appendChild(td);
  }
  return tr;
}

function element(tag, text, attributes) {
  const e = document.createElement(tag);
  if (text !== undefined) e.textContent = text;
  for (const [k, v] of Object.entries(attributes || {})) e.setAttribute(k, v);
  return e;
}

// Connectivity ------------------------------------------------------------------------------
function healthy() {
  document.body.classList.remove("stale");
  $("updated").textContent = "updated " + time(Date.now());
}

function stale(reason) {
  document.body.classList.add("stale");
  if (reason) say(reason);
}

async function call(method, path, body) { return Auth.call(method, path, body); }

async function publicGet(path) {
  const answer = await fetch(path);
  const data = await answer.json();
  if (!answer.ok) throw new Error(data.msg || ("HTTP " + answer.status));
  return data;
}

// Charts ------------------------------------------------------------------------------------
Chart.defaults.color = "#8a96a3";
Chart.defaults.borderColor = "#2a323c";
Chart.defaults.animation = false;
Chart.defaults.maintainAspectRatio = false;

const timeAxis = { type: "linear", ticks: { callback: (v) => time(v), maxTicksLimit: 6 } };

function chart(id, config) {
  if (!desk.charts[id]) desk.charts[id] = new Chart($(id), config);
  return desk.charts[id];
}

function lineChart(id, extra) {
  return chart(id, { type: "line", data: { datasets: [] },
    options: { scales: { x: timeAxis }, plugins: { legend: { labels: { boxWidth: 10 } } }, ...(extra || {}) } });
}

// A vertical line at the mark on the liquidation map.
const markLine = {
  id: "markLine",
  afterDatasetsDraw(c) {
    const at = c.options.plugins.markLine && c.options.plugins.markLine.index;
    if (at === undefined || at === null) return;
    const x = c.scales.x.getPixelForValue(at);
    const { top, bottom } = c.chartArea;
    const g = c.ctx;
    g.save(); g.strokeStyle = "#f5a524"; g.setLineDash([4, 3]); g.beginPath(); g.moveTo(x, top); g.lineTo(x, bottom); g.stroke();
    g.fillStyle = "#f5a524"; g.fillText("mark", x + 4, top + 10); g.restore();
  },
};
Chart.register(markLine);

// Overview ----------------------------------------------------------------------------------
async function refreshFund() {
  const answer = await call("GET", "/risk/insurance/points?limit=500");
  const points = answer.points;
  $("fund-available").textContent = answer.available;
  $("fund-balance").textContent = points.length ? points[points.length - 1].wallet + " USDT" : "";
  const c = lineChart("chart-fund", { plugins: { legend: { display: false }, tooltip: { callbacks: {
    label: (item) => { const p = points[item.dataIndex]; return `${p.reason} ${p.change} → ${p.wallet}`; } } } } });
  c.data.datasets = [{ label: "fund", stepped: true, borderColor: "#3e8ed0", pointRadius: 3,
    pointBackgroundColor: points.map((p) => REASON_COLORS[p.reason] || "#d8dee6"),
    data: points.map((p) => ({ x: p.time, y: num(p.wallet) })) }];
  c.update();
  $("fund-changes").replaceChildren(...points.slice(-50).reverse().map((p) =>
    row([time(p.time), p.reason, p.change, p.wallet], { reason: p.reason })));
  const unwinds = await call("GET", "/risk/insurance/unwinds?limit=20");
  $("fund-unwinds").replaceChildren(...unwinds.reverse().map((s) =>
    row([time(s.time), s.symbol, s.reason, s.side, s.position, s.qty, s.filled, s.limitPrice ?? "–"])));
}

async function refreshPrices() {
  const p = await call("GET", "/risk/prices?symbol=" + desk.symbol);
  if (p.time !== null) {
    const last = desk.prices[desk.prices.length - 1];
    if (!last || last.t !== p.time) {
      desk.prices.push({ t: p.time, mark: num(p.markPrice), index: num(p.indexPrice),
                         venues: Object.fromEntries(p.venues.filter((v) => v.price !== null).map((v) => [v.venue, num(v.price)])) });
      if (desk.prices.length > SERIES_POINTS) desk.prices.shift();
    }
  }
  for (const v of p.venues) desk.venues.set(v.venue, v);
  const staleVenues = p.venues.filter((v) => v.stale).map((v) => v.venue);
  $("venue-state").textContent = p.stale ? "index STALE" : (staleVenues.length ? "stale: " + staleVenues.join(", ") : "");
  $("venue-state").className = p.stale || staleVenues.length ? "warn" : "muted";
  $("venues").replaceChildren(...p.venues.map((v) =>
    row([v.venue, v.price, v.weight, v.stale ? "stale" + (v.reason ? " (" + v.reason + ")" : "") : "fresh"],
        { venue: v.venue, stale: v.stale }, v.stale ? "warn" : "")));
  const c = lineChart("chart-prices");
  const names = [...desk.venues.keys()].sort();
  c.data.datasets = [
    { label: "mark", borderColor: "#f5a524", borderWidth: 2, pointRadius: 0, data: desk.prices.map((s) => ({ x: s.t, y: s.mark })) },
    { label: "index", borderColor: "#d8dee6", borderWidth: 1, pointRadius: 0, data: desk.prices.map((s) => ({ x: s.t, y: s.index })) },
    ...names.map((name, i) => ({
      label: desk.venues.get(name).stale ? name + " (stale)" : name, borderDash: [3, 3], borderWidth: 1, pointRadius: 0,
      borderColor: COLORS[(i + 1) % COLORS.length], spanGaps: false,
      data: desk.prices.map((s) => ({ x: s.t, y: s.venues[name] === undefined ? null : s.venues[name] })) })),
  ];
  c.update();
}

async function refreshFunding() {
  const [history, premium] = await Promise.all([
    publicGet(`/fapi/v1/fundingRate?symbol=${desk.symbol}&limit=100`),
    publicGet(`/fapi/v1/premiumIndex?symbol=${desk.symbol}`)]);
  $("funding-predicted").textContent = `predicted ${(num(premium.lastFundingRate) * 100).toFixed(4)} % at ${time(premium.nextFundingTime)}`;
  const c = lineChart("chart-funding");
  c.data.datasets = [
    { label: "settled %", borderColor: "#3e8ed0", pointRadius: 2, data: history.map((h) => ({ x: h.fundingTime, y: num(h.fundingRate) * 100 })) },
    { label: "predicted %", borderColor: "#f5a524", backgroundColor: "#f5a524", pointStyle: "triangle", pointRadius: 6, showLine: false,
      data: [{ x: premium.nextFundingTime, y: num(premium.lastFundingRate) * 100 }] },
  ];
  c.update();
}

async function refreshOpenInterest() {
  const oi = await publicGet("/fapi/v1/openInterest?symbol=" + desk.symbol);
  $("oi-now").textContent = oi.openInterest;
  desk.openInterest.push({ x: oi.time, y: num(oi.openInterest) });
  if (desk.openInterest.length > SERIES_POINTS) desk.openInterest.shift();
  const c = lineChart("chart-oi", { plugins: { legend: { display: false } } });
  c.data.datasets = [{ label: "open interest", borderColor: "#2dd4bf", pointRadius: 0, data: desk.openInterest }];
  c.update();
}

function drawLiquidationVolume() {
  const perMinute = new Map();
  for (const e of desk.feed) {
    if (!["LIQUIDATION_FILL", "POSITION_TAKEN_OVER", "AUTO_DELEVERAGED"].includes(e.type) || e.qty === null) continue;
    const minute = Math.floor(e.time / 60000) * 60000;
    const side = e.type === "AUTO_DELEVERAGED" ? "adl" : e.type === "LIQUIDATION_FILL" ? "book" : "fund";
    const entry = perMinute.get(minute) || { book: 0, fund: 0, adl: 0 };
    entry[side] += Math.abs(num(e.qty) * num(e.price));
    perMinute.set(minute, entry);
  }
  const minutes = [...perMinute.keys()].sort((a, b) => a - b).slice(-60);
  const c = chart("chart-liq-volume", { type: "bar", data: { labels: [], datasets: [] },
    options: { scales: { x: { stacked: true }, y: { stacked: true } } } });
  c.data.labels = minutes.map((m) => time(m).slice(0, 5));
  c.data.datasets = [["book", "filled in the book", "#e5484d"], ["fund", "taken over by the fund", "#a78bfa"], ["adl", "ADL", "#f5a524"]]
    .map(([key, label, color]) => ({ label, backgroundColor: color, data: minutes.map((m) => perMinute.get(m)[key]) }));
  c.update();
}

// Accounts ----------------------------------------------------------------------------------
async function refreshNearest() {
  desk.nearest = await call("GET", "/risk/positions/nearest?limit=50");
  if (changed("nearest", desk.nearest)) drawNearest();
}

function drawNearest() {
  const { key, dir } = desk.sort;
  const value = (r) => { const v = r[key]; return typeof v === "string" && v !== "" && !isNaN(Number(v)) ? Number(v) : v; };
  const rows = [...desk.nearest].sort((a, b) => {
    const x = value(a), y = value(b);
    if (x === y) return 0;
    if (x === null || x === undefined) return 1;
    if (y === null || y === undefined) return -1;
    return (x < y ? -1 : 1) * dir;
  });
  $("nearest").replaceChildren(...rows.map((r) => {
    const ratio = r.marginRatio === null ? "no margin" : (num(r.marginRatio) * 100).toFixed(2) + " %";
    const tr = row([r.name, r.account, r.symbol, r.side, r.size, r.leverage, r.marginType, ratio, r.markPrice,
                    r.liquidationPrice, r.distancePercent === null ? null : r.distancePercent + " %"],
                   { account: r.account, symbol: r.symbol }, "clickable");
    tr.children[3].className = r.side === "LONG" ? "long" : "short";
    if (r.marginRatio !== null && num(r.marginRatio) >= 0.8) tr.children[7].className = "danger";
    tr.addEventListener("click", () => openAccount(r.account));
    return tr;
  }));
  for (const th of document.querySelectorAll("#nearest-table th.sortable")) {
    th.textContent = th.textContent.replace(/ [▲▼]$/, "") + (th.dataset.key === key ? (dir > 0 ? " ▲" : " ▼") : "");
  }
}

async function openAccount(account) {
  desk.drill = account;
  const d = await call("GET", "/risk/account/" + account);
  $("drill").hidden = false;
  $("drill-title").textContent = `${d.account}${d.name ? " · " + d.name : ""}`;
  $("drill-positions").replaceChildren(...d.positions.map((p) =>
    row([p.symbol, p.side, p.size, p.entryPrice, p.liquidationPrice, p.unrealizedProfit])));
  $("drill-orders").replaceChildren(...d.openOrders.map((o) => row([o.orderId, o.symbol, o.side, o.price, o.origQty])));
  $("drill-income").replaceChildren(...d.income.slice(-100).reverse().map((i) => row([time(i.time), i.incomeType, i.income])));
  $("drill-liquidations").replaceChildren(...[...d.liquidations, ...d.adl].sort((a, b) => b.seq - a.seq || b.index - a.index)
    .map((e) => row([time(e.time), e.type, e.symbol, e.qty, e.price])));
}

// Liquidation map ---------------------------------------------------------------------------
async function refreshMap() {
  const m = await call("GET", "/risk/liquidationMap?symbol=" + desk.symbol);
  const mark = num(m.markPrice), step = num(m.step);
  const range = Math.min(Math.max(Number($("map-range").value) || 10, 1), 90) / 100;
  const places = (m.step.split(".")[1] || "").length;
  const byPrice = new Map(m.buckets.map((b) => [num(b.price), b]));
  const labels = [], longs = [], shorts = [];
  if (mark !== null) {
    const lo = Math.floor(mark * (1 - range) / step), hi = Math.ceil(mark * (1 + range) / step);
    for (let i = Math.max(lo, hi - 400); i <= hi; i++) {
      const price = Number((i * step).toFixed(places));
      const b = byPrice.get(price);
      labels.push(price.toFixed(places)); longs.push(b ? num(b.longNotional) : 0); shorts.push(b ? num(b.shortNotional) : 0);
    }
  }
  const totalLong = m.buckets.reduce((s, b) => s + num(b.longNotional), 0);
  const totalShort = m.buckets.reduce((s, b) => s + num(b.shortNotional), 0);
  $("map-summary").textContent = `mark ${m.markPrice} · step ${m.step} · longs ${totalLong.toFixed(0)} · shorts ${totalShort.toFixed(0)} USDT`;
  const c = chart("chart-map", { type: "bar", data: { labels: [], datasets: [] },
    options: { plugins: { markLine: {} }, scales: { x: { stacked: true, ticks: { maxTicksLimit: 12 } }, y: { stacked: true } } } });
  const first = labels.length ? Number(labels[0]) : 0;
  c.options.plugins.markLine.index = mark === null ? null : (mark - first) / step - 0.5;
  c.data.labels = labels;
  c.data.datasets = [{ label: "longs liquidated (USDT)", backgroundColor: "#e5484d", data: longs },
                     { label: "shorts liquidated (USDT)", backgroundColor: "#30a46c", data: shorts }];
  c.update();
  $("map-rows").replaceChildren(...m.buckets.filter((b) => mark === null || Math.abs(num(b.price) - mark) <= mark * range)
    .map((b) => row([b.price, b.longNotional, b.longPositions, b.shortNotional, b.shortPositions], { price: b.price })));
}

// Stress test -------------------------------------------------------------------------------
function addShockRow() {
  const n = desk.stressRows++;
  const div = element("div");
  const symbol = element("select", undefined, { id: `shock-symbol-${n}` });
  for (const s of desk.symbols) symbol.append(element("option", s, { value: s }));
  const mode = element("select", undefined, { id: `shock-mode-${n}` });
  mode.append(element("option", "move %", { value: "move" }), element("option", "mark price", { value: "price" }));
  const value = element("input", undefined, { id: `shock-value-${n}`, value: "-10", size: "10", inputmode: "decimal" });
  div.append(symbol, " ", mode, " ", value);
  $("shock-rows").append(div);
}

async function runStress(event) {
  event.preventDefault();
  const shocks = [];
  for (let n = 0; n < desk.stressRows; n++) {
    const value = $(`shock-value-${n}`).value.trim();
    if (!value) continue;
    const shock = { symbol: $(`shock-symbol-${n}`).value };
    if ($(`shock-mode-${n}`).value === "move") shock.movePercent = value; else shock.price = value;
    shocks.push(shock);
  }
  try {
    const r = await call("POST", "/risk/stress", { shocks });
    say("");
    showStress(r);
  } catch (e) { say("Stress test refused: " + e.message); }
}

function showStress(r) {
  $("stress-result").hidden = false;
  const t = r.totals;
  const facts = [["Accounts liquidated", t.accountsLiquidated], ["Notional sent to the book", t.offeredNotional],
    ["Filled in the book", t.filledNotional], ["Taken over by the fund", t.takenOverNotional], ["ADL volume", t.adlNotional],
    ["Accounts deleveraged", t.adlAccounts], ["Bad debt covered", t.badDebt], ["Fees to the fund", t.fundFees],
    ["Fund before", t.fundBefore], ["Fund after", t.fundAfter], ["Fund drawdown", t.fundDrawdown],
    ["Fund itself deleveraged", t.fundDeleveraged ? "yes" : "no"]];
  $("stress-totals").replaceChildren(...facts.flatMap(([k, v]) => [element("dt", k), element("dd", String(v), { "data-fact": k })]));
  $("stress-symbols").replaceChildren(...r.symbols.map((s) =>
    row([s.symbol, s.markBefore, s.markAfter, s.offeredNotional, s.filledNotional, s.takenOverNotional, s.adlNotional])));
  $("stress-accounts").replaceChildren(...r.accounts.map((a) =>
    row([a.name, a.account, a.marginBalance, a.maintMargin, a.closed ? "yes" : "orders only", a.offeredNotional], { account: a.account })));
  const c = chart("chart-stress", { type: "bar", data: { labels: [], datasets: [] }, options: {} });
  c.data.labels = r.symbols.map((s) => s.symbol);
  c.data.datasets = [["offeredNotional", "sent to the book", "#e5484d"], ["filledNotional", "filled", "#30a46c"],
    ["takenOverNotional", "taken over", "#a78bfa"], ["adlNotional", "ADL", "#f5a524"]]
    .map(([key, label, color]) => ({ label, backgroundColor: color, data: r.symbols.map((s) => num(s[key])) }));
  c.update();
}

// ADL ---------------------------------------------------------------------------------------
async function refreshAdl() {
  const queues = await call("GET", "/risk/adl/queues");
  if (!changed("adl", queues)) return;
  $("adl-queues").replaceChildren(...queues.map((q) => {
    const box = element("div");
    box.append(element("h3", `${q.symbol} ${q.side}`));
    const table = element("table");
    table.append(element("thead"));
    table.tHead.append(row(["Account", "Qty", "Quantile"]));
    const body = element("tbody");
    body.replaceChildren(...q.accounts.map((a) => {
      const lights = element("span", undefined, { class: "lights", title: String(a.quantile) });
      for (let i = 1; i <= 4; i++) lights.append(element("span", undefined, { class: i <= a.quantile ? "on" : "" }));
      return row([a.account, a.qty, lights], { account: a.account, quantile: a.quantile });
    }));
    if (!q.accounts.length) body.append(row(["no queue installed", "", ""]));
    table.append(body);
    box.append(table);
    return box;
  }));
}

// Payouts -----------------------------------------------------------------------------------
function decide(p) {
  const span = element("span");
  if (p.status !== "PENDING") return span;
  const approve = element("button", "Approve", { id: "approve-" + p.id, type: "button" });
  approve.addEventListener("click", () => act(() => call("POST", `/risk/insurance/payouts/${p.id}/approve`)));
  const reason = element("select", undefined, { id: "deny-reason-" + p.id });
  for (const r of ["NOT_ELIGIBLE", "DUPLICATE", "INSUFFICIENT_EVIDENCE", "EXCEEDS_FUND", "OTHER"]) reason.append(element("option", r, { value: r }));
  const deny = element("button", "Deny", { id: "deny-" + p.id, type: "button" });
  deny.addEventListener("click", () => act(() => call("POST", `/risk/insurance/payouts/${p.id}/deny`, { reason: reason.value, note: "" })));
  span.append(approve, " ", reason, " ", deny);
  return span;
}

async function act(step) {
  try { await step(); say(""); } catch (e) { say(e.message); }
  await refreshPayouts();
}

async function refreshPayouts() {
  const payouts = await call("GET", "/risk/insurance/payouts?limit=100");
  if (!changed("payouts", payouts)) return;
  $("payouts").replaceChildren(...payouts.map((p) => {
    const status = p.exceedsFund ? p.status + " · exceeds the fund" : p.status;
    const tr = row([p.id, p.account, p.amount, p.memo, p.requestedBy, p.approvals.join(", "), status,
                    p.denyReason ? p.denyReason + (p.outcome && p.outcome !== p.denyReason ? " (" + p.outcome + ")" : "") : p.outcome,
                    decide(p)], { id: p.id, status: p.status }, "clickable");
    if (p.exceedsFund) tr.children[6].className = "warn";
    if (p.status === "REFUSED" || p.status === "DENIED") tr.children[6].className = "danger";
    tr.children[0].addEventListener("click", () => showTrail(p.id));
    return tr;
  }));
  if (desk.trail !== null) await showTrail(desk.trail);
}

async function showTrail(id) {
  desk.trail = id;
  const trail = await call("GET", `/risk/insurance/payouts/${id}/trail`);
  $("trail-title").textContent = "#" + id;
  $("trail").replaceChildren(...trail.map((t) => row([time(t.at), t.actor, t.action, t.details === null ? "" : JSON.stringify(t.details)])));
}

async function requestPayout(event) {
  event.preventDefault();
  const amount = $("payout-amount").value;
  try {
    const p = await call("POST", "/risk/insurance/payouts", { account: Number($("payout-account").value), amount, memo: $("payout-memo").value });
    $("payout-warning").textContent = p.exceedsFund ? `Request #${p.id} exceeds what the fund can pay` : "";
    say("");
  } catch (e) { say(e.message); }
  await refreshPayouts();
}

// Live feed ---------------------------------------------------------------------------------
function describe(e) {
  switch (e.type) {
    case "LIQUIDATION_STARTED": return `margin ${e.marginBalance} < maint. ${e.maintMargin}`;
    case "LIQUIDATION_ORDER": return `${e.side} ${e.qty} ${e.symbol} at bankruptcy price ${e.price}`;
    case "LIQUIDATION_FILL": return `filled ${e.qty} ${e.symbol} at ${e.price}`;
    case "LIQUIDATION_FEE": return `fee to the fund ${e.fee}`;
    case "POSITION_TAKEN_OVER": return `fund took ${e.qty} ${e.symbol} at ${e.price}`;
    case "AUTO_DELEVERAGED": return `ADL ${e.qty} ${e.symbol} at ${e.price} (bankrupt ${e.bankrupt})`;
    case "LIQUIDATION_FINISHED": return e.closed ? "closed" : "orders cancelled, safe";
    default: return "";
  }
}

function addFeed(e, live) {
  const key = `${e.seq}:${e.index}`;
  if (desk.seen.has(key)) return;
  desk.seen.add(key);
  desk.feed.push(e);
  if (desk.feed.length > 2000) desk.feed.shift();
  const li = element("li");
  li.dataset.account = e.account; li.dataset.type = e.type;
  li.append(element("span", time(e.time) + " ", { class: "muted" }), element("b", e.type.replace("LIQUIDATION_", "").replace(/_/g, " ")),
            ` #${e.account} `, element("span", describe(e)));
  $("feed-list").prepend(li);
  while ($("feed-list").children.length > FEED_ROWS) $("feed-list").lastElementChild.remove();
  $("feed-count").textContent = desk.feed.length + " steps";
  if (live && e.type === "LIQUIDATION_STARTED" && $("alert").checked) alertDesk(li);
}

function alertDesk(li) {
  li.classList.add("flash");
  try {
    const audio = new AudioContext();
    const tone = audio.createOscillator();
    tone.frequency.value = 880; tone.connect(audio.destination); tone.start(); tone.stop(audio.currentTime + 0.2);
  } catch (e) { /* no audio device: the flash remains */ }
}

function feedState(text, ok) {
  $("feed-state").textContent = text;
  $("feed-state").className = "badge " + (ok ? "ok" : "bad");
}

async function follow() {
  if (Auth.session === null) return;
  try {
    for (const e of await call("GET", "/risk/liquidations?limit=1000")) addFeed(e, false);
  } catch (e) { stale("Cannot read the liquidation history: " + e.message); }
  const socket = Auth.socket("/risk/ws/liquidations");
  desk.socket = socket;
  socket.onopen = () => { desk.backoff = 1000; feedState("live feed connected", true); };
  socket.onmessage = (message) => {
    const data = JSON.parse(message.data);
    if (!data.authenticated) addFeed(data, true);
  };
  socket.onclose = () => {
    if (desk.socket !== socket) return;
    desk.socket = null;
    if (Auth.session === null) return;
    feedState("live feed disconnected: reconnecting", false);
    stale();
    desk.reconnect = setTimeout(follow, desk.backoff);
    desk.backoff = Math.min(desk.backoff * 2, 10000);
  };
}

// Refresh loop, tabs, session ---------------------------------------------------------------
const TAB_REFRESH = {
  overview: () => [refreshFund(), refreshFunding()],
  accounts: () => [refreshNearest(), desk.drill === null ? null : openAccount(desk.drill)],
  map: () => [refreshMap()],
  stress: () => [],
  adl: () => [refreshAdl()],
  payouts: () => [refreshPayouts(), refreshFund()],
};

async function refresh() {
  if (Auth.session === null) return;
  try {
    await Promise.all([refreshPrices(), refreshOpenInterest(), ...TAB_REFRESH[desk.tab]()]);
    drawLiquidationVolume();
    if (desk.socket && desk.socket.readyState === WebSocket.OPEN) healthy(); else stale();
  } catch (e) {
    stale(e.message);
  }
}

function showTab(name) {
  desk.tab = name;
  for (const b of document.querySelectorAll("nav button")) b.setAttribute("aria-selected", String(b.dataset.tab === name));
  for (const t of document.querySelectorAll(".tab")) t.hidden = t.id !== "tab-" + name;
  refresh();
}

async function enter(session) {
  $("who").textContent = session.name; $("role").textContent = session.role;
  $("login-form").hidden = true; $("desk").hidden = false; say("");
  try {
    const info = await publicGet("/fapi/v1/exchangeInfo");
    desk.symbols = info.symbols.map((s) => s.symbol);
  } catch (e) { stale("Cannot load the symbols: " + e.message); }
  $("symbol").replaceChildren(...desk.symbols.map((s) => element("option", s, { value: s })));
  desk.symbol = desk.symbols[0] || null;
  if (desk.stressRows === 0) addShockRow();
  await follow();
  await refresh();
  desk.timer = setInterval(refresh, REFRESH_MS);
}

Auth.onLogout = (reason) => {
  clearInterval(desk.timer); clearTimeout(desk.reconnect);
  const socket = desk.socket; desk.socket = null;
  if (socket) socket.close();
  $("desk").hidden = true; $("login-form").hidden = false;
  $("feed-list").replaceChildren(); desk.seen.clear(); desk.feed = []; shown.clear();
  say(reason);
};

$("login-form").addEventListener("submit", async (event) => {
  event.preventDefault();
  try {
    const session = await Auth.login($("username").value, $("password").value, $("totp").value);
    $("password").value = ""; $("totp").value = "";
    await enter(session);
  } catch (e) { $("password").value = ""; $("totp").value = ""; say(e.message); }
});

$("logout").addEventListener("click", () => Auth.logout(""));
$("symbol").addEventListener("change", () => {
  desk.symbol = $("symbol").value; desk.prices = []; desk.venues.clear(); desk.openInterest = []; refresh();
});
for (const b of document.querySelectorAll("nav button")) b.addEventListener("click", () => showTab(b.dataset.tab));
for (const th of document.querySelectorAll("#nearest-table th.sortable")) {
  th.addEventListener("click", () => {
    desk.sort = { key: th.dataset.key, dir: desk.sort.key === th.dataset.key ? -desk.sort.dir : 1 };
    drawNearest();
  });
}
$("drill-close").addEventListener("click", () => { desk.drill = null; $("drill").hidden = true; });
$("shock-add").addEventListener("click", addShockRow);
$("stress-form").addEventListener("submit", runStress);
$("payout-form").addEventListener("submit", requestPayout);
$("map-range").addEventListener("change", refresh);

if (!Enrol.open(enter)) Auth.restore().then((session) => { if (session !== null) enter(session); });
