// The part of a browser oidc-client-ts touches, for running app.mjs in Node: `window` with
// storage and a `location` whose navigations are queued for node-runner.mjs to hand out.
import { InMemoryWebStorage } from "oidc-client-ts";

const waiting = [];
const navigated = [];
const navigate = (url) => {
  const next = waiting.shift();
  if (next) next(url);
  else navigated.push(url);
};
/** The next URL the app navigates to. */
globalThis.nextNavigation = () =>
  navigated.length > 0 ? Promise.resolve(navigated.shift()) : new Promise((resolve) => waiting.push(resolve));

const location = { href: "about:blank", assign: navigate, replace: navigate };
globalThis.window = {
  location,
  localStorage: new InMemoryWebStorage(),
  sessionStorage: new InMemoryWebStorage(),
  crypto: globalThis.crypto,
  // A navigation never completes in Node: there is no page to leave, no event to wait for.
  addEventListener() {},
  removeEventListener() {},
  stop() {},
};
window.self = window;
window.top = window;
