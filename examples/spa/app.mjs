// The sign-in code of a single-page (or mobile) app, on oidc-client-ts: the authorization code
// flow with PKCE as munji's public client, refresh by refresh token, sign-out at /end-session.
// It is browser code: node-runner.mjs runs it in Node for the test suite. Guide: docs/apps.md.
import { UserManager } from "oidc-client-ts";

/**
 * @param {{ authority: string, client_id: string, redirect_uri: string,
 *           post_logout_redirect_uri: string }} config
 */
export function createUserManager(config) {
  return new UserManager({
    ...config,
    // munji's public clients must use PKCE; oidc-client-ts always sends an S256 challenge.
    response_type: "code",
    scope: "openid profile",
    // The ID token has `preferred_username` and `name` already; with `loadUserInfo`
    // the profile is also read from /userinfo.
    loadUserInfo: true,
    // Refresh with the refresh token (rotated by munji on every use) before the access
    // token expires; no hidden iframe is needed.
    automaticSilentRenew: true,
  });
}

/** The "Sign in" button: the browser leaves for munji's /authorize. */
export function signIn(userManager) {
  return userManager.signinRedirect();
}

/** The page at `redirect_uri`: redeem the code (with the PKCE verifier) for tokens. */
export function completeSignIn(userManager, url = window.location.href) {
  return userManager.signinCallback(url);
}

/** Any call to an API behind the gateway: the access token as a Bearer token. */
export async function callApi(userManager, url) {
  const user = await userManager.getUser();
  if (!user || user.expired) throw new Error("not signed in");
  return fetch(url, { headers: { Authorization: `Bearer ${user.access_token}` } });
}

/** A new access token now (automaticSilentRenew does this by itself before expiry). */
export function refresh(userManager) {
  return userManager.signinSilent();
}

/** The "Sign out" button: munji's /end-session ends the session, then the browser comes back. */
export function signOut(userManager) {
  return userManager.signoutRedirect({ state: "signed-out" });
}

/** The page at `post_logout_redirect_uri`. */
export function completeSignOut(userManager, url = window.location.href) {
  return userManager.signoutCallback(url);
}
