#!/usr/bin/env python3
"""A third-party SAML IdP (pysaml2's Server) for the web agent to sit behind.

  metadata --workdir D --entity-id E --sso URL
      creates the IdP's key and certificate in D and prints its metadata.
  respond --workdir D --entity-id E --sso URL --sp-metadata FILE --request-url URL
          --user U --mail M --groups G1,G2 [--sign both|assertion|response]
      answers the AuthnRequest carried by request-url (the agent's HTTP-Redirect to the
      IdP's SSO URL) as pysaml2's IdP does: a persistent NameID, mail and isMemberOf under
      their urn:oid names (NameFormat uri), and the Response and/or Assertion signed. Prints
      {"acs": ..., "saml_response": base64, "relay_state": ...} for the test to post.
"""

import argparse
import base64
import json
import os
import sys
import urllib.parse

sys.path.insert(0, os.path.dirname(__file__))
from saml_sp import key_and_cert  # noqa: E402  (one key helper for both peers)

POST = "urn:oasis:names:tc:SAML:2.0:bindings:HTTP-POST"
REDIRECT = "urn:oasis:names:tc:SAML:2.0:bindings:HTTP-Redirect"
PERSISTENT = "urn:oasis:names:tc:SAML:2.0:nameid-format:persistent"
URI_FORMAT = "urn:oasis:names:tc:SAML:2.0:attrname-format:uri"
PASSWORD_CLASS = "urn:oasis:names:tc:SAML:2.0:ac:classes:PasswordProtectedTransport"


def config(args, sp_metadata=None):
    from saml2.config import IdPConfig

    key, cert = key_and_cert(args.workdir)
    conf = {
        "entityid": args.entity_id,
        "key_file": key,
        "cert_file": cert,
        "xmlsec_binary": "/usr/bin/xmlsec1",
        "service": {
            "idp": {
                "endpoints": {"single_sign_on_service": [(args.sso, REDIRECT)]},
                "name_id_format": [PERSISTENT],
                "policy": {"default": {"lifetime": {"minutes": 15}, "name_form": URI_FORMAT}},
            }
        },
    }
    if sp_metadata:
        conf["metadata"] = {"local": [sp_metadata]}
    c = IdPConfig()
    c.load(conf)
    return c


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("command", choices=["metadata", "respond"])
    ap.add_argument("--workdir", required=True)
    ap.add_argument("--entity-id", required=True)
    ap.add_argument("--sso", required=True)
    ap.add_argument("--sp-metadata")
    ap.add_argument("--request-url")
    ap.add_argument("--user")
    ap.add_argument("--mail")
    ap.add_argument("--groups", default="")
    ap.add_argument("--sign", choices=["both", "assertion", "response"], default="both")
    args = ap.parse_args()
    os.makedirs(args.workdir, exist_ok=True)

    if args.command == "metadata":
        from saml2.metadata import create_metadata_string

        print(create_metadata_string(None, config=config(args), valid=1).decode())
        return

    from saml2.saml import NameID
    from saml2.server import Server

    server = Server(config=config(args, args.sp_metadata))
    query = dict(urllib.parse.parse_qsl(urllib.parse.urlsplit(args.request_url).query))
    request = server.parse_authn_request(query["SAMLRequest"], REDIRECT)
    resp_args = server.response_args(request.message, [POST])
    identity = {"mail": [args.mail]}
    if args.groups:
        identity["isMemberOf"] = args.groups.split(",")
    response = server.create_authn_response(
        identity=identity,
        userid=args.user,
        name_id=NameID(format=PERSISTENT, text=args.user),
        authn={"class_ref": PASSWORD_CLASS, "authn_auth": args.entity_id},
        sign_response=args.sign in ("both", "response"),
        sign_assertion=args.sign in ("both", "assertion"),
        # pysaml2 signs with RSA-SHA1 unless told otherwise; the agent refuses SHA-1.
        sign_alg="http://www.w3.org/2001/04/xmldsig-more#rsa-sha256",
        digest_alg="http://www.w3.org/2001/04/xmlenc#sha256",
        **resp_args,
    )
    print(json.dumps({
        "acs": resp_args["destination"],
        "saml_response": base64.b64encode(str(response).encode()).decode(),
        "relay_state": query.get("RelayState", ""),
    }))


if __name__ == "__main__":
    main()
