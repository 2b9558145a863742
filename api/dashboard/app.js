// Risk desk dashboard. Invariants: the session token lives only in memory (a reload logs out);
// every server value is written with textContent (never as HTML); money stays the decimal string
// the API sent (never parsed to a float); any -1002 answer returns to the login form.
"use strict";

const REFRESH_MS = 1000;
const FEED_ROWS = 50;
let token = null;
let socket = null;
let timer = null;

const $ = (id) => document.getElementById(id);

function say(text) { $("message").textContent = text; }

async function api(method, path, body) {
  const headers = { "Authorization": "Bearer " + token };
  if (body !== undefined) headers["Content-Type"] = "application/json";
  const answer = await fetch(path, { method, headers, body: body === undefined ? undefined : JSON.stringify(body) });
  const data = await answer.json();
  if (!answer.ok) {
    if (data.code === -1002 && answer.status === 401) logout("Session ended: log in again.");
    throw new Error(data.msg || ("HTTP " + answer.status));
  }
  return data;
}

function row(cells, attributes) {
  const tr = document.createElement("tr");
  for (const [name, value] of Object.entries(attributes || {})) tr.dataset[name] = String(value);
  for (const cell of cells) {
    const td = document.createElement("td");
    if (cell instanceof Node) td.appendChild(cell); else td.textContent = cell === null ? "–" : String(cell);
    tr.appendChild(td);
  }
  return tr;
}

function button(text, id, action) {
  const b = document.createElement("button");
  b.type = "button"; b.id = id; b.textContent = text;
  b.addEventListener("click", async () => {
    b.disabled = true;
    try { await action(); say(""); } catch (e) { say(e.message); } finally { b.disabled = false; await refresh(); }
  });
  return b;
}

function percent(ratio) { return ratio === null ? "no margin left" : (Number(ratio) * 100).toFixed(2) + " %"; }

async function refreshNearest() {
  const rows = await api("GET", "/risk/accounts/nearest?limit=20");
  $("nearest").replaceChildren(...rows.map((r) => {
    const tr = row([r.account, percent(r.marginRatio), r.marginBalance, r.maintMargin, r.liquidatable ? "yes" : "no"],
                   { account: r.account });
    if (r.liquidatable) tr.classList.add("danger");
    return tr;
  }));
}

async function refreshFund() {
  const [balance, history, unwinds] = await Promise.all([
    fetch("/fapi/v1/insuranceBalance").then((a) => a.json()),
    api("GET", "/risk/insurance/history?limit=20"),
    api("GET", "/risk/insurance/unwinds?limit=20"),
  ]);
  $("fund-unwinds").replaceChildren(...unwinds.reverse().map((s) =>
    row([new Date(s.time).toISOString(), s.symbol, s.reason, s.side, s.position, s.qty, s.filled, s.limitPrice ?? "–"])));
  $("fund-balance").textContent = Array.isArray(balance) ? balance[0].assets[0].marginBalance : "–";
  $("fund-history").replaceChildren(...history.reverse().map((p) =>
    row([new Date(p.assets[0].updateTime).toISOString(), p.assets[0].marginBalance])));
}

async function refreshPayouts() {
  const pending = await api("GET", "/risk/insurance/payouts?status=PENDING");
  $("payouts").replaceChildren(...pending.map((p) => {
    const actions = document.createElement("span");
    actions.append(
      button("Approve", "approve-" + p.id, () => api("POST", `/risk/insurance/payouts/${p.id}/approve`)),
      button("Deny", "deny-" + p.id, () => api("POST", `/risk/insurance/payouts/${p.id}/deny`,
                                              { note: "denied on the dashboard" })));
    return row([p.id, p.account, p.amount, p.memo, p.requestedBy, p.approvals.join(", "), actions], { id: p.id });
  }));
}

async function refresh() {
  if (token === null) return;
  try { await Promise.all([refreshNearest(), refreshFund(), refreshPayouts()]); } catch (e) { say(e.message); }
}

function addLiquidation(e) {
  const tr = row([e.type, e.account, e.symbol, e.qty, e.price, e.seq], { account: e.account, type: e.type });
  $("liquidations").prepend(tr);
  while ($("liquidations").rows.length > FEED_ROWS) $("liquidations").lastElementChild.remove();
}

async function follow() {
  for (const e of await api("GET", "/risk/liquidations?limit=" + FEED_ROWS)) addLiquidation(e);
  const scheme = location.protocol === "https:" ? "wss:" : "ws:";
  // The token goes in the first message, never in the URL (URLs end up in access logs).
  socket = new WebSocket(`${scheme}//${location.host}/risk/ws/liquidations`);
  socket.onopen = () => socket.send(JSON.stringify({ token }));
  socket.onmessage = (message) => {
    const data = JSON.parse(message.data);
    if (data.authenticated) $("feed-state").textContent = "live feed connected";
    else addLiquidation(data);
  };
  socket.onclose = () => { $("feed-state").textContent = "live feed closed"; };
}

function logout(reason) {
  token = null;
  if (socket) socket.close();
  clearInterval(timer);
  $("desk").hidden = true;
  $("login-form").hidden = false;
  $("liquidations").replaceChildren();
  say(reason || "");
}

$("login-form").addEventListener("submit", async (event) => {
  event.preventDefault();
  const body = { username: $("username").value, password: $("password").value, totp: $("totp").value };
  const answer = await fetch("/api/v1/auth/login", {
    method: "POST", headers: { "Content-Type": "application/json" }, body: JSON.stringify(body) });
  const data = await answer.json();
  $("password").value = ""; $("totp").value = "";
  if (!answer.ok) { say(data.msg); return; }
  token = data.token;
  $("who").textContent = data.name; $("role").textContent = data.role;
  $("login-form").hidden = true; $("desk").hidden = false; say("");
  await follow();
  await refresh();
  timer = setInterval(refresh, REFRESH_MS);
});

$("logout").addEventListener("click", () => logout(""));

$("payout-form").addEventListener("submit", async (event) => {
  event.preventDefault();
  try {
    await api("POST", "/risk/insurance/payouts", {
      account: Number($("payout-account").value), amount: $("payout-amount").value, memo: $("payout-memo").value });
    say("");
  } catch (e) { say(e.message); }
  await refresh();
});
