#!/usr/bin/env python3
"""A third-party OAuth 2.0 client (Authlib) against a running idaas visitor IdP.

  discover --issuer URL
      fetches /.well-known/oauth-authorization-server and runs Authlib's RFC 8414 validator
      over it (issuer, endpoints, response_types_supported, grant types, auth methods).
  exchange --issuer URL --client-id ID --assertion-file F   (secret in IDAAS_PEER_CLIENT_SECRET)
      the RFC 7522 SAML bearer grant with Authlib's OAuth2Session (client_secret_basic), then
      RFC 7662 introspection of the token it got; then the same grant with a broken assertion
      and with a wrong secret, reporting the RFC 6749 error codes Authlib read.
Results are JSON on stdout. Authlib accepts plain http only on loopback (the quickstart);
elsewhere it needs https, or AUTHLIB_INSECURE_TRANSPORT=1 for a test set-up.
"""

import argparse
import json
import os

import requests
from authlib.common.errors import AuthlibBaseError
from authlib.integrations.requests_client import OAuth2Session
from authlib.oauth2.rfc8414 import AuthorizationServerMetadata

SAML2_BEARER = "urn:ietf:params:oauth:grant-type:saml2-bearer"


def discover(issuer):
    r = requests.get(issuer.rstrip("/") + "/.well-known/oauth-authorization-server", timeout=30)
    r.raise_for_status()
    md = AuthorizationServerMetadata(r.json())
    md.validate()
    if md["issuer"] != issuer.rstrip("/"):
        raise SystemExit(f"issuer mismatch: {md['issuer']} != {issuer}")
    return md


def error_of(fn):
    try:
        fn()
    except AuthlibBaseError as e:
        return e.error
    return None


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("command", choices=["discover", "exchange"])
    ap.add_argument("--issuer", required=True)
    ap.add_argument("--client-id")
    ap.add_argument("--assertion-file")
    args = ap.parse_args()
    md = discover(args.issuer)
    if args.command == "discover":
        print(json.dumps(dict(md), sort_keys=True))
        return

    secret = os.environ.get("IDAAS_PEER_CLIENT_SECRET")
    if not (args.client_id and args.assertion_file and secret):
        raise SystemExit("exchange needs --client-id, --assertion-file and IDAAS_PEER_CLIENT_SECRET")
    assertion = open(args.assertion_file).read().strip()
    client = OAuth2Session(args.client_id, secret, token_endpoint_auth_method="client_secret_basic")
    token = client.fetch_token(md["token_endpoint"], grant_type=SAML2_BEARER, assertion=assertion)
    introspection = client.introspect_token(md["introspection_endpoint"], token=token["access_token"])
    introspection.raise_for_status()
    bogus = client.introspect_token(md["introspection_endpoint"], token="not-a-token")
    replayed = error_of(lambda: client.fetch_token(md["token_endpoint"], grant_type=SAML2_BEARER, assertion=assertion))
    broken = error_of(lambda: client.fetch_token(md["token_endpoint"], grant_type=SAML2_BEARER, assertion="AAAA"))
    wrong = OAuth2Session(args.client_id, "wrong-secret", token_endpoint_auth_method="client_secret_basic")
    bad_client = error_of(lambda: wrong.fetch_token(md["token_endpoint"], grant_type=SAML2_BEARER, assertion=assertion))
    print(json.dumps({
        "token_type": token.get("token_type"),
        "scope": token.get("scope"),
        "expires_in": token.get("expires_in"),
        "token_fields": sorted(token.keys()),
        "introspection": introspection.json(),
        "bogus_introspection": bogus.json(),
        "replayed_error": replayed,
        "broken_error": broken,
        "bad_client_error": bad_client,
    }, sort_keys=True))


if __name__ == "__main__":
    main()
