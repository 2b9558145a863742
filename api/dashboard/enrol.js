// A new admin's enrolment, opened from their one-time link /dashboard#enrol=<token>: choose a
// password, receive the TOTP secret (base32 and otpauth:// URI, shown this once), confirm it with
// the current code of the authenticator app by logging in, and enter the desk. Invariants: the
// token leaves the address bar at once and is kept in memory only until the server spent it; the
// password is kept in memory only until the login succeeds; server values are written with
// textContent; a link the server refuses (unknown, used or expired) ends the enrolment with that
// message and a way to the login form.
"use strict";

const Enrol = (() => {
  const byId = (id) => document.getElementById(id);
  const PREFIX = "#enrol=";
  let token = null;
  let name = null;
  let password = null;

  function say(text) { byId("enrol-error").textContent = text; }
  function step(id) { for (const s of ["enrol-password", "enrol-confirm"]) byId(s).hidden = s !== id; }

  function toLogin() {
    byId("enrol").hidden = true;
    byId("login-form").hidden = false;
    if (name !== null) byId("username").value = name;
  }

  async function choose(event) {
    event.preventDefault();
    const first = byId("enrol-new-password").value;
    const second = byId("enrol-repeat").value;
    byId("enrol-new-password").value = ""; byId("enrol-repeat").value = "";
    if (first.length < 8 || first.length > 256) { say("A password has 8 to 256 characters."); return; }
    if (first !== second) { say("The two passwords differ."); return; }
    say("");
    try {
      const answer = await Auth.enrol(token, first);
      token = null; name = answer.name; password = first;
      byId("enrol-name").textContent = answer.name;
      byId("enrol-secret").textContent = answer.totpSecret;
      byId("enrol-uri").textContent = answer.otpauthUri;
      byId("enrol-uri").href = answer.otpauthUri;
      step("enrol-confirm");
      byId("enrol-code").focus();
    } catch (e) {
      if (e.code === -1003) { say(e.message); return; } // too many attempts: the link may still work
      token = null;
      step(null);
      say(`This enrolment link cannot be used (${e.message}). Ask an admin to request a new one for you.`);
      byId("enrol-to-login").hidden = false;
    }
  }

  async function confirm(enter, event) {
    event.preventDefault();
    const code = byId("enrol-code").value.trim();
    byId("enrol-code").value = "";
    try {
      const session = await Auth.login(name, password, code);
      password = null; say("");
      byId("enrol").hidden = true;
      await enter(session);
    } catch (e) { say(`${e.message}: enter the code your authenticator app shows now.`); }
  }

  // True if the page was opened from an enrolment link: the enrolment page is shown instead of
  // the login form, and `enter(session)` is called once the new admin is logged in.
  function open(enter) {
    if (!location.hash.startsWith(PREFIX)) return false;
    token = location.hash.slice(PREFIX.length);
    history.replaceState(null, "", location.pathname + location.search);
    Auth.logout("");
    byId("login-form").hidden = true;
    byId("enrol").hidden = false;
    step("enrol-password");
    byId("enrol-password").addEventListener("submit", choose);
    byId("enrol-confirm").addEventListener("submit", (event) => confirm(enter, event));
    byId("enrol-to-login").addEventListener("click", toLogin);
    return true;
  }

  // A link opened in a tab that already shows the dashboard changes only the fragment: start over.
  window.addEventListener("hashchange", () => { if (location.hash.startsWith(PREFIX)) location.reload(); });

  return { open };
})();
