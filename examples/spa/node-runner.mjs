// Runs app.mjs in Node for the test suite (tests/api/examples.rs), with the browser played by
// the test: every navigation app.mjs starts is printed as a JSON line on stdout, and the URL
// the browser lands on next is read from stdin. The shim below is all the browser oidc-client-ts
// needs here: window.location, storage and Web Crypto (Node 20 has crypto, fetch and btoa).
import { createInterface } from "node:readline";
import "./node-shim.mjs";
import * as app from "./app.mjs";

const env = (name) => {
  const value = process.env[name];
  if (!value) throw new Error(`${name} is not set`);
  return value;
};
const lines = createInterface({ input: process.stdin })[Symbol.asyncIterator]();
const say = (message) => process.stdout.write(`${JSON.stringify(message)}\n`);
/** Print where the app sends the browser, and wait for where the browser ends up. */
async function browse(navigation) {
  say({ navigate: await navigation });
  const { value, done } = await lines.next();
  if (done) throw new Error("stdin closed before the browser came back");
  return value.trim();
}

const authority = env("MUNJI_URL");
const userManager = app.createUserManager({
  authority,
  client_id: env("CLIENT_ID"),
  redirect_uri: env("REDIRECT_URI"),
  post_logout_redirect_uri: env("POST_LOGOUT_REDIRECT_URI"),
});

app.signIn(userManager);
const callback = await browse(globalThis.nextNavigation());
const user = await app.completeSignIn(userManager, callback);
const me = await app.callApi(userManager, `${authority}/api/v1/me`);
say({ signed_in: { profile: user.profile, access_token: user.access_token, me: await me.json() } });

const refreshed = await app.refresh(userManager);
say({ refreshed: { access_token: refreshed.access_token } });

app.signOut(userManager);
const back = await browse(globalThis.nextNavigation());
const signedOut = await app.completeSignOut(userManager, back);
say({ signed_out: { state: signedOut.userState ?? null, user: await userManager.getUser() } });
process.exit(0);
