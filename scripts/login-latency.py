#!/usr/bin/env python3
"""How long a full sign-in takes against the dev provider.

One "login" is what a returning user's browser does: GET /login/{provider} (303 to the
provider), POST the provider imitation's form (303 back), GET /callback/{provider} (state check,
token exchange and profile fetch over HTTP, session start; 303), GET /account (200).

Usage:
    munji serve --dev &                       # or a release build: target/release/munji serve --dev
    scripts/login-latency.py [--base http://127.0.0.1:8080] [--provider naver] [-n 300]

Prints the median, p90 and p99 over n logins, per provider. Standard library only.
"""

import argparse
import http.cookiejar
import statistics
import sys
import time
import urllib.error
import urllib.parse
import urllib.request


class NoRedirect(urllib.request.HTTPRedirectHandler):
    def redirect_request(self, req, fp, code, msg, headers, newurl):
        return None


def browser():
    jar = http.cookiejar.CookieJar()
    return urllib.request.build_opener(urllib.request.HTTPCookieProcessor(jar), NoRedirect())


def request(opener, url, data=None):
    """Returns (status, location, body)."""
    body = urllib.parse.urlencode(data).encode() if data is not None else None
    try:
        with opener.open(url, data=body, timeout=30) as resp:
            return resp.status, resp.headers.get("Location"), resp.read().decode()
    except urllib.error.HTTPError as err:  # 3xx (not followed) and 4xx/5xx
        return err.code, err.headers.get("Location"), err.read().decode()


def login(base, provider, uid, email):
    """One full sign-in in a fresh browser; returns where the callback sent it."""
    opener = browser()
    status, authorize, _ = request(opener, f"{base}/login/{provider}?return_to=%2Faccount")
    assert status == 303, f"/login/{provider}: {status}"
    url = urllib.parse.urlsplit(authorize)
    form = dict(urllib.parse.parse_qsl(url.query))
    form.update(uid=uid, email=email, name="Load Test", email_verified="on", consent_email="on", decision="allow")
    status, callback, _ = request(opener, urllib.parse.urlunsplit(url._replace(query="")), form)
    assert status == 303, f"provider form: {status}"
    status, landed, _ = request(opener, callback)
    assert status == 303, f"callback: {status}"
    if landed.endswith("/signup"):
        return opener, landed
    status, _, _ = request(opener, f"{base}/account")
    assert status == 200, f"/account: {status}"
    return opener, landed


def sign_up_once(base, provider, uid, email, username):
    opener, landed = login(base, provider, uid, email)
    if not landed.endswith("/signup"):
        return
    _, _, page = request(opener, f"{base}/signup")
    csrf = page.split('name="csrf" value="', 1)[1].split('"', 1)[0]
    status, _, _ = request(opener, f"{base}/signup", {"username": username, "display_name": "Load Test", "csrf": csrf})
    assert status == 303, f"sign-up: {status}"


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--base", default="http://127.0.0.1:8080")
    parser.add_argument("--provider", action="append", choices=["google", "naver", "kakao"])
    parser.add_argument("-n", type=int, default=300)
    args = parser.parse_args()
    providers = args.provider or ["google", "naver", "kakao"]
    for provider in providers:
        uid = "4100009999" if provider == "kakao" else "load-9999"
        email = f"load.{provider}@example.com"
        sign_up_once(args.base, provider, uid, email, f"load.{provider}")
        for _ in range(10):  # warm-up: connections, discovery cache
            login(args.base, provider, uid, email)
        samples = []
        for _ in range(args.n):
            started = time.perf_counter()
            login(args.base, provider, uid, email)
            samples.append((time.perf_counter() - started) * 1000)
        samples.sort()
        pick = lambda q: samples[min(len(samples) - 1, int(q * len(samples)))]
        print(f"{provider:6} n={len(samples)} median={statistics.median(samples):.2f} ms "
              f"p90={pick(0.90):.2f} ms p99={pick(0.99):.2f} ms")


if __name__ == "__main__":
    sys.exit(main())
