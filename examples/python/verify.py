"""A Python back-end that checks munji access tokens offline, against munji's /jwks, with PyJWT
(docs/tokens.md, "The gateway"). The guide is docs/apps.md.

    python3 -m venv .venv && .venv/bin/pip install -r examples/python/requirements.txt
    MUNJI_URL=http://127.0.0.1:8080 .venv/bin/python examples/python/verify.py   # port 8002
    curl -H "Authorization: Bearer $ACCESS_TOKEN" http://127.0.0.1:8002/hello

GET /hello answers {"user_id", "username"} for a user's token, {"client_id"} for a service's,
and 401 for anything else. PORT=0 picks a free port; the first line printed says which.
tests/api/examples.rs runs this file against a live munji.
"""

import json
import os
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import jwt

ISSUER = os.environ.get("MUNJI_URL", "http://127.0.0.1:8080").rstrip("/")
AUDIENCE = os.environ.get("MUNJI_AUDIENCE", ISSUER)
# Fetches /jwks once, and again when a token names a key it has not seen (a rotation).
JWKS = jwt.PyJWKClient(f"{ISSUER}/jwks")


def verify(token: str) -> dict:
    """The token's claims, if munji signed it and it is a valid access token for us now."""
    # An ID token (typ JWT) is not an access token, even though munji signed it.
    if jwt.get_unverified_header(token).get("typ") != "at+jwt":
        raise jwt.InvalidTokenError("not an access token")
    key = JWKS.get_signing_key_from_jwt(token)
    return jwt.decode(
        token,
        key.key,
        algorithms=[key.algorithm_name],  # the key decides the algorithm, never the token
        issuer=ISSUER,
        audience=AUDIENCE,
        options={"require": ["exp", "iat", "sub", "iss", "aud"]},
        leeway=30,
    )


class Handler(BaseHTTPRequestHandler):
    def do_GET(self):
        if self.path != "/hello":
            return self.answer(404, {"error": "not_found"})
        auth = self.headers.get("Authorization", "")
        try:
            if not auth.startswith("Bearer "):
                raise jwt.InvalidTokenError("no bearer token")
            claims = verify(auth.removeprefix("Bearer "))
        except jwt.PyJWTError as error:
            return self.answer(401, {"error": "invalid_token", "error_description": str(error)})
        if "preferred_username" in claims:
            return self.answer(200, {"user_id": claims["sub"], "username": claims["preferred_username"]})
        return self.answer(200, {"client_id": claims["client_id"]})

    def answer(self, status: int, body: dict):
        data = json.dumps(body).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        if status == 401:
            self.send_header("WWW-Authenticate", 'Bearer error="invalid_token"')
        self.end_headers()
        self.wfile.write(data)

    def log_message(self, *args):
        pass


if __name__ == "__main__":
    server = ThreadingHTTPServer(("127.0.0.1", int(os.environ.get("PORT", "8002"))), Handler)
    print(f"listening on http://127.0.0.1:{server.server_address[1]}", flush=True)
    server.serve_forever()
