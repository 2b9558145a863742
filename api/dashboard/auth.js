// Staff authentication of the risk desk, in one place: login, a new admin's enrolment, the session
// kept across reloads, authenticated REST calls and the authenticated live socket. Invariants: the session token is
// kept in sessionStorage only (survives a reload, not the tab; never in localStorage or a
// cookie) and is checked against /api/v1/auth/me on load; a 401 -1002 answer ends the session.
"use strict";

const Auth = (() => {
  const KEY = "derivatives.desk.session";
  let session = null; // { token, name, role, expiresAt }
  let onLogout = () => {};

  function save(value) {
    session = value;
    if (value === null) sessionStorage.removeItem(KEY); else sessionStorage.setItem(KEY, JSON.stringify(value));
  }

  // POST of a JSON body without a session; the answer's data, or an Error carrying its code.
  async function post(path, body) {
    const answer = await fetch(path, {
      method: "POST", headers: { "Content-Type": "application/json" }, body: JSON.stringify(body) });
    const data = await answer.json();
    if (!answer.ok) {
      const error = new Error(data.msg || ("HTTP " + answer.status));
      error.code = data.code;
      throw error;
    }
    return data;
  }

  async function login(username, password, totp) {
    const data = await post("/api/v1/auth/login", { username, password, totp });
    save({ token: data.token, name: data.name, role: data.role, expiresAt: data.expiresAt });
    return session;
  }

  // A new admin's one-time enrolment link: sets their password; answers { name, totpSecret,
  // otpauthUri } (the secret is shown this once). No session yet: the admin logs in with a code.
  async function enrol(token, password) {
    save(null);
    return post("/api/v1/auth/enrol", { token, password });
  }

  // The stored session if the server still accepts it (a reload keeps the desk open).
  async function restore() {
    const stored = sessionStorage.getItem(KEY);
    if (stored === null) return null;
    session = JSON.parse(stored);
    if (session.expiresAt && session.expiresAt <= Date.now()) { save(null); return null; }
    try {
      const answer = await fetch("/api/v1/auth/me", { headers: { "Authorization": "Bearer " + session.token } });
      if (answer.status === 401) { save(null); return null; }
      if (!answer.ok) return session; // the server is down: keep the session, the desk shows it stale
    } catch (e) { return session; }
    return session;
  }

  function logout(reason) { save(null); onLogout(reason || ""); }

  async function call(method, path, body) {
    if (session === null) throw new Error("not logged in");
    const headers = { "Authorization": "Bearer " + session.token };
    if (body !== undefined) headers["Content-Type"] = "application/json";
    const answer = await fetch(path, { method, headers, body: body === undefined ? undefined : JSON.stringify(body) });
    const data = await answer.json();
    if (!answer.ok) {
      if (answer.status === 401) logout("Session ended: log in again.");
      const error = new Error(data.msg || ("HTTP " + answer.status));
      error.code = data.code;
      throw error;
    }
    return data;
  }

  // The desk's live socket: the credential travels in the socket's first message, never in the
  // URL (URLs end up in access logs).
  function socket(path) {
    const scheme = location.protocol === "https:" ? "wss:" : "ws:";
    const ws = new WebSocket(`${scheme}//${location.host}${path}`);
    ws.addEventListener("open", () => ws.send(JSON.stringify({ token: session.token })));
    return ws;
  }

  return {
    login, enrol, restore, logout, call, socket,
    get session() { return session; },
    set onLogout(handler) { onLogout = handler; },
  };
})();
