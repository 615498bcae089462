#!/usr/bin/env python3
"""Third-party SAML service providers, driven against a running idaas home IdP.

Two widely used SP libraries that nobody on this project wrote:
  * pysaml2 (IdentityPython), with its default security settings (it requires a signed
    Response by default) and its standard attribute maps (saml_uri: mail, isMemberOf);
  * python3-saml (OneLogin), in strict mode, requiring signed messages and signed assertions.

Subcommands (every result is JSON on stdout; errors go to stderr with exit code 1):
  metadata --lib L --workdir D --entity-id E --acs URL --slo URL
      writes the SP's key and certificate into D and prints the SP's own metadata document
      (what an operator would hand to `idaas home sps import`).
  login --lib L --workdir D --entity-id E --acs URL --slo URL --idp-metadata URL --user U
      (password in IDAAS_PEER_PASSWORD)
      starts an SP-initiated sign-in with a signed AuthnRequest (HTTP-Redirect), follows the
      IdP's pages as a browser would (the sign-in form, then the auto-post form), and hands the
      SAMLResponse to the library, which validates it with its own rules. Prints the NameID,
      the SessionIndex and the attributes the library extracted.
  login-logout (pysaml2; the same arguments)
      signs in as above, then signs out with pysaml2's global_logout: a signed LogoutRequest
      (HTTP-Redirect) to the IdP's SingleLogoutService, the IdP's LogoutResponse read back by
      the library, and a new sign-in that must ask for the password again.
The ACS URL is never contacted: the library is given the form the IdP would post there.
"""

import argparse
import base64
import html.parser
import json
import os
import sys
import urllib.parse

import requests

POST = "urn:oasis:names:tc:SAML:2.0:bindings:HTTP-POST"
REDIRECT = "urn:oasis:names:tc:SAML:2.0:bindings:HTTP-Redirect"
PERSISTENT = "urn:oasis:names:tc:SAML:2.0:nameid-format:persistent"
MAIL = "urn:oid:0.9.2342.19200300.100.1.3"
IS_MEMBER_OF = "urn:oid:1.3.6.1.4.1.5923.1.5.1.1"
URI_FORMAT = "urn:oasis:names:tc:SAML:2.0:attrname-format:uri"


class Forms(html.parser.HTMLParser):
    """The forms of a page: action and input values (what a browser would submit)."""

    def __init__(self):
        super().__init__()
        self.forms = []

    def handle_starttag(self, tag, attrs):
        a = dict(attrs)
        if tag == "form":
            self.forms.append({"action": a.get("action", ""), "inputs": {}})
        elif tag == "input" and self.forms and a.get("name"):
            self.forms[-1]["inputs"][a["name"]] = a.get("value", "")


def forms_of(page):
    p = Forms()
    p.feed(page)
    return p.forms


def key_and_cert(workdir):
    """The SP's RSA key and self-signed certificate (created once in workdir)."""
    key, cert = os.path.join(workdir, "sp.key"), os.path.join(workdir, "sp.crt")
    if not os.path.exists(cert):
        import datetime

        from cryptography import x509
        from cryptography.hazmat.primitives import hashes, serialization
        from cryptography.hazmat.primitives.asymmetric import rsa
        from cryptography.x509.oid import NameOID

        k = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "peer-sp")])
        now = datetime.datetime.now(datetime.timezone.utc)
        c = (
            x509.CertificateBuilder().subject_name(name).issuer_name(name).public_key(k.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - datetime.timedelta(days=1)).not_valid_after(now + datetime.timedelta(days=30))
            .sign(k, hashes.SHA256())
        )
        with open(key, "wb") as f:
            f.write(k.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                    serialization.NoEncryption()))
        with open(cert, "wb") as f:
            f.write(c.public_bytes(serialization.Encoding.PEM))
    return key, cert


def pem_body(path):
    with open(path) as f:
        return "".join(l.strip() for l in f if not l.startswith("-----"))


# ---- pysaml2 ----

def pysaml2_client(args, idp_metadata_file=None):
    from saml2.client import Saml2Client
    from saml2.config import SPConfig

    key, cert = key_and_cert(args.workdir)
    conf = {
        "entityid": args.entity_id,
        "key_file": key,
        "cert_file": cert,
        "xmlsec_binary": "/usr/bin/xmlsec1",
        "service": {
            "sp": {
                "endpoints": {
                    "assertion_consumer_service": [(args.acs, POST)],
                    "single_logout_service": [(args.slo, REDIRECT)],
                },
                # The library's defaults for response and assertion signatures are kept
                # (want_response_signed = True): only what an SP that signs its requests and
                # asks for mail and isMemberOf must say.
                "authn_requests_signed": True,
                "required_attributes": ["mail", "isMemberOf"],
                "name_id_format": PERSISTENT,
            }
        },
    }
    if idp_metadata_file:
        conf["metadata"] = {"local": [idp_metadata_file]}
    c = SPConfig()
    c.load(conf)
    return c, (Saml2Client(config=c) if idp_metadata_file else None)


def pysaml2_metadata(args):
    from saml2.metadata import create_metadata_string

    conf, _ = pysaml2_client(args)
    return create_metadata_string(None, config=conf, valid=1).decode()


def pysaml2_login(args, idp_entity_id, idp_metadata_file, browser):
    from saml2.sigver import SIG_RSA_SHA256

    _, client = pysaml2_client(args, idp_metadata_file)
    req_id, info = client.prepare_for_authenticate(
        entityid=idp_entity_id, relay_state="/peer", binding=REDIRECT, sigalg=SIG_RSA_SHA256,
    )
    location = dict(info["headers"])["Location"]
    saml_response, relay = browser(location)
    resp = client.parse_authn_request_response(saml_response, POST, outstanding={req_id: "/peer"})
    if resp is None:
        raise SystemExit("pysaml2 returned no response")
    return {
        "name_id": resp.name_id.text,
        "session_index": resp.assertion.authn_statement[0].session_index,
        "attributes": resp.get_identity(),
        "relay_state": relay,
    }


def local_session_left(client, name_id):
    """Whether pysaml2 still holds a session for the subject (its cache drops the entry)."""
    try:
        return bool(client.users.issuers_of_info(name_id))
    except KeyError:
        return False


def pysaml2_login_logout(args, idp_entity_id, idp_metadata_file, browser, session):
    """Signs in, then signs out through the IdP's single logout (SP-initiated, HTTP-Redirect,
    signed), as pysaml2 does it; reports what the library read back and whether the IdP then
    asks for the password again."""
    from saml2 import BINDING_HTTP_REDIRECT as R
    from saml2.sigver import SIG_RSA_SHA256

    _, client = pysaml2_client(args, idp_metadata_file)
    req_id, info = client.prepare_for_authenticate(
        entityid=idp_entity_id, relay_state="/peer", binding=R, sigalg=SIG_RSA_SHA256,
    )
    saml_response, _ = browser(dict(info["headers"])["Location"])
    resp = client.parse_authn_request_response(saml_response, POST, outstanding={req_id: "/peer"})
    name_id = resp.name_id
    responses = client.global_logout(name_id, sign=True, sign_alg=SIG_RSA_SHA256)
    binding, http_args = next(iter(responses.values()))
    if binding != R:
        raise SystemExit(f"pysaml2 chose {binding} for the LogoutRequest")
    r = session.get(dict(http_args["headers"])["Location"], allow_redirects=False, timeout=30)
    if r.status_code not in (302, 303):
        raise SystemExit(f"the IdP answered the LogoutRequest with {r.status_code}: {r.text[:300]}")
    back = r.headers["Location"]
    if not back.startswith(args.slo):
        raise SystemExit(f"the IdP sent the LogoutResponse to {back}, not to {args.slo}")
    query = dict(urllib.parse.parse_qsl(urllib.parse.urlsplit(back).query))
    logout = client.parse_logout_request_response(query["SAMLResponse"], R)
    if logout is None:
        raise SystemExit("pysaml2 refused the LogoutResponse")
    status = logout.response.status.status_code.value
    # What a pysaml2 application does with it: the outstanding request is looked up by
    # InResponseTo (a KeyError for an answer to nothing) and the local session ends.
    try:
        client.handle_logout_response(logout)
        matched = True
    except KeyError:
        matched = False
    # The IdP session is over: a new sign-in asks for the password.
    req_id2, info2 = client.prepare_for_authenticate(
        entityid=idp_entity_id, relay_state="/again", binding=R, sigalg=SIG_RSA_SHA256,
    )
    page = session.get(dict(info2["headers"])["Location"], timeout=30).text
    return {
        "status": status,
        "in_response_to_matches": matched,
        "signed_query": "Signature=" in back,
        "asks_password_again": any("csrf" in f["inputs"] and "password" in page for f in forms_of(page)),
        "local_session_left": local_session_left(client, name_id),
    }


# ---- python3-saml (OneLogin) ----

def onelogin_settings(args, idp=None):
    key, cert = key_and_cert(args.workdir)
    settings = {
        "strict": True,
        "debug": False,
        "sp": {
            "entityId": args.entity_id,
            "assertionConsumerService": {"url": args.acs, "binding": POST},
            "singleLogoutService": {"url": args.slo, "binding": REDIRECT},
            "NameIDFormat": PERSISTENT,
            "x509cert": pem_body(cert),
            "privateKey": open(key).read(),
            "attributeConsumingService": {
                "serviceName": "peer",
                "requestedAttributes": [
                    {"name": MAIL, "nameFormat": URI_FORMAT, "friendlyName": "mail", "isRequired": True},
                    {"name": IS_MEMBER_OF, "nameFormat": URI_FORMAT, "friendlyName": "isMemberOf",
                     "isRequired": True},
                ],
            },
        },
        "security": {
            "authnRequestsSigned": True,
            "wantMessagesSigned": True,
            "wantAssertionsSigned": True,
            "rejectDeprecatedAlgorithm": True,
        },
    }
    if idp is not None:
        settings["idp"] = idp
    return settings


def onelogin_metadata(args):
    from onelogin.saml2.settings import OneLogin_Saml2_Settings

    s = OneLogin_Saml2_Settings(onelogin_settings(args), sp_validation_only=True)
    md = s.get_sp_metadata()
    errors = s.validate_metadata(md)
    if errors:
        raise SystemExit(f"python3-saml: its own metadata is invalid: {errors}")
    return md.decode() if isinstance(md, bytes) else md


def onelogin_request(url, post=None, get=None):
    u = urllib.parse.urlsplit(url)
    return {
        "https": "on" if u.scheme == "https" else "off",
        "http_host": u.hostname,
        "server_port": str(u.port or (443 if u.scheme == "https" else 80)),
        "script_name": u.path,
        "get_data": get or {},
        "post_data": post or {},
    }


def onelogin_login(args, idp_metadata_xml, browser):
    from onelogin.saml2.auth import OneLogin_Saml2_Auth
    from onelogin.saml2.idp_metadata_parser import OneLogin_Saml2_IdPMetadataParser

    idp = OneLogin_Saml2_IdPMetadataParser.parse(idp_metadata_xml)["idp"]
    settings = onelogin_settings(args, idp)
    auth = OneLogin_Saml2_Auth(onelogin_request(args.acs), settings)
    location = auth.login(return_to="/peer")
    req_id = auth.get_last_request_id()
    saml_response, relay = browser(location)
    auth = OneLogin_Saml2_Auth(
        onelogin_request(args.acs, post={"SAMLResponse": saml_response, "RelayState": relay}), settings
    )
    auth.process_response(request_id=req_id)
    if auth.get_errors():
        raise SystemExit(f"python3-saml refused the response: {auth.get_errors()} {auth.get_last_error_reason()}")
    if not auth.is_authenticated():
        raise SystemExit("python3-saml: not authenticated")
    return {
        "name_id": auth.get_nameid(),
        "name_id_format": auth.get_nameid_format(),
        "session_index": auth.get_session_index(),
        "attributes": auth.get_attributes(),
        "friendly_attributes": auth.get_friendlyname_attributes(),
        "relay_state": relay,
    }


# ---- the browser ----

def make_browser(args, password):
    session = requests.Session()

    def browse(location):
        """From the IdP's SSO URL to the SAMLResponse its auto-post form carries."""
        r = session.get(location, timeout=30)
        r.raise_for_status()
        page, url = r.text, r.url
        forms = forms_of(page)
        if forms and "csrf" in forms[0]["inputs"]:
            f = forms[0]
            data = dict(f["inputs"], uid=args.user, password=password)
            r = session.post(urllib.parse.urljoin(url, f["action"]), data=data, timeout=60)
            r.raise_for_status()
            url = r.url
            forms = forms_of(r.text)
        # The home IdP asks for consent before the first disclosure to a service: click Allow.
        consent = [f for f in forms if f["action"].endswith("/saml/consent")]
        if consent:
            data = dict(consent[0]["inputs"], decision="allow")
            r = session.post(urllib.parse.urljoin(url, consent[0]["action"]), data=data, timeout=60)
            r.raise_for_status()
            forms = forms_of(r.text)
        posts = [f for f in forms if "SAMLResponse" in f["inputs"]]
        if not posts:
            raise SystemExit(f"no auto-post form; the IdP answered: {r.text[:500]}")
        f = posts[0]
        if f["action"] != args.acs:
            raise SystemExit(f"the IdP posts to {f['action']}, not to the ACS {args.acs}")
        return f["inputs"]["SAMLResponse"], f["inputs"].get("RelayState", "")

    return browse, session


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("command", choices=["metadata", "login", "login-logout"])
    ap.add_argument("--lib", choices=["pysaml2", "onelogin"], required=True)
    ap.add_argument("--workdir", required=True)
    ap.add_argument("--entity-id", required=True)
    ap.add_argument("--acs", required=True)
    ap.add_argument("--slo", required=True)
    ap.add_argument("--idp-metadata")
    ap.add_argument("--user")
    args = ap.parse_args()
    os.makedirs(args.workdir, exist_ok=True)

    if args.command == "metadata":
        print(pysaml2_metadata(args) if args.lib == "pysaml2" else onelogin_metadata(args))
        return

    password = os.environ.get("IDAAS_PEER_PASSWORD")
    if not (args.idp_metadata and args.user and password):
        raise SystemExit("login needs --idp-metadata, --user and IDAAS_PEER_PASSWORD")
    md = requests.get(args.idp_metadata, timeout=30)
    md.raise_for_status()
    md_file = os.path.join(args.workdir, "idp-metadata.xml")
    with open(md_file, "w") as f:
        f.write(md.text)
    from saml2.mdstore import MetadataStore  # only to read the IdP's entityID
    from saml2.config import Config

    store = MetadataStore(None, Config())
    store.load("local", md_file)
    idp_entity_id = next(iter(store.identity_providers()))
    browser, session = make_browser(args, password)
    if args.command == "login-logout":
        if args.lib != "pysaml2":
            raise SystemExit("login-logout is driven with pysaml2")
        out = pysaml2_login_logout(args, idp_entity_id, md_file, browser, session)
    elif args.lib == "pysaml2":
        out = pysaml2_login(args, idp_entity_id, md_file, browser)
    else:
        out = onelogin_login(args, md.text, browser)
    print(json.dumps(out, sort_keys=True))


if __name__ == "__main__":
    main()
