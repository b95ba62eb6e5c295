// The login form: shown when the server answers 401 (authentication is on), it
// logs in with the HTTP form of AuthenticateEx2, keeps the session token for
// this tab (setToken: sessionStorage) and lets the waiting requests go again.
// "Log out" ends the token on the server (close_session) and forgets it.
// With authentication off no request answers 401, so the form never shows.

import { api, currentToken, onUnauthorized, setToken } from "./api.js";

const LOGIN = "/v1/authentication/authenticate_ex2";
const LOGOUT = "/v1/authentication/close_session";
const USER_KEY = "vexport.user";

const $ = (id) => document.getElementById(id);
let waiting = null;  // { promise, resolve } while the form is open

/** Wire the form and the "Log out" button; api() asks this module for logins from now on. */
export function installLogin() {
  onUnauthorized(ask);
  $("login-form").addEventListener("submit", submit);
  // Escape must not leave the page without a login: refused, or (Chromium may close a
  // dialog anyway on a second Escape) the form opens again.
  $("login").addEventListener("cancel", (event) => event.preventDefault());
  $("login").addEventListener("close", () => {
    if (waiting) {
      $("login").showModal();
      $("login-user").focus();
    }
  });
  $("logout").addEventListener("click", logout);
  showUser();
}

function ask(message, hadToken) {
  if (!waiting) {
    let resolve;
    const promise = new Promise((done) => { resolve = done; });
    waiting = { promise, resolve };
    setToken("");  // refused: it is of no use any more
    sessionStorage.removeItem(USER_KEY);
    showUser();
    // Without a token the server's message is for programmers; an expired one's is for people.
    $("login-reason").textContent = hadToken ? `${message}.` : "This server needs a login.";
    $("login-error").textContent = "";
    $("login").showModal();
    $("login-user").focus();
  }
  return waiting.promise;
}

async function submit(event) {
  event.preventDefault();
  const error = $("login-error");
  const send = $("login-submit");
  error.textContent = "";
  send.disabled = true;
  try {
    const body = { user_name: $("login-user").value, password: $("login-password").value };
    const answer = await (await api(LOGIN, { method: "POST", body, ask: false })).json();
    const code = answer.error_code || "AUTHENTICATE_CODE_OK";
    if (code !== "AUTHENTICATE_CODE_OK" || !answer.token_value) {
      error.textContent = (answer.error_description || {}).description || "the login was refused";
      $("login-password").select();
      $("login-password").focus();
      return;
    }
    setToken(answer.token_value.replace(/^Bearer\s+/, ""));
    sessionStorage.setItem(USER_KEY, answer.user_id || body.user_name);
    $("login-form").reset();
    const { resolve } = waiting;
    waiting = null;
    $("login").close();
    showUser();
    resolve();
  } catch (failure) {
    error.textContent = failure.message || String(failure);
  } finally {
    send.disabled = false;
  }
}

async function logout() {
  try {
    await api(LOGOUT, { method: "POST", ask: false });
  } catch {
    // already closed or expired: forgetting it is all that is left
  }
  setToken("");
  sessionStorage.removeItem(USER_KEY);
  location.reload();  // nothing of the last user's stays on the screen
}

function showUser() {
  const held = Boolean(currentToken());
  $("logout").hidden = !held;
  $("user").textContent = held ? `Logged in as ${sessionStorage.getItem(USER_KEY) || "?"}` : "";
}
