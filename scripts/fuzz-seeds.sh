#!/usr/bin/env bash
# Plain-text seeds of the fuzz targets: policies, and AuthnRequests in each binding (the
# structure-aware seeds — signed responses, sealed tokens, ciphertexts — come from
# `make fuzz-seeds`, a nextest run of the ignored `fuzz_seeds::write_fuzz_seeds`). Run by `make fuzz-seeds`.
set -euo pipefail
mkdir -p "$(dirname "$0")/../fuzz/corpus"
cd "$(dirname "$0")/../fuzz/corpus"
mkdir -p policy authn_request

printf '%s' 'domain:salesforce@home and country:eu@home' > policy/seed-and
printf '%s' '(purpose:current@amazon or ppurpose:purchase@amazon) and domain:amazon@home' > policy/seed-nested
printf '%s' '2 of (a:x@h, b:y@h, 3 of (c:z@h, d:w@h, e:v@h, f:u@h))' > policy/seed-threshold
printf '%s' 'access_time@home in [2024-01-01, 2024-12-31] and age@home >= 18' > policy/seed-ranges
printf '%s' 'x@a < 1 OR y@b <= 65535 AND z@c > 0' > policy/seed-bounds

python3 - <<'PY'
import base64, zlib
def req(issuer, acs=None, index=None, rid="_r1"):
    a = f' AssertionConsumerServiceURL="{acs}"' if acs else ""
    i = f' AssertionConsumerServiceIndex="{index}"' if index is not None else ""
    return (f'<samlp:AuthnRequest xmlns:samlp="urn:oasis:names:tc:SAML:2.0:protocol" '
            f'xmlns:saml="urn:oasis:names:tc:SAML:2.0:assertion" ID="{rid}" Version="2.0" '
            f'IssueInstant="2026-11-30T12:00:00Z" Destination="https://idp.fuzz.example/saml/sso"{a}{i} '
            f'ProtocolBinding="urn:oasis:names:tc:SAML:2.0:bindings:HTTP-POST">'
            f'<saml:Issuer>{issuer}</saml:Issuer>'
            f'<samlp:NameIDPolicy Format="urn:oasis:names:tc:SAML:2.0:nameid-format:persistent" AllowCreate="true"/>'
            f'</samlp:AuthnRequest>').encode()
def deflate(b):
    c = zlib.compressobj(9, zlib.DEFLATED, -15)
    return c.compress(b) + c.flush()
seeds = {
    "post": (0, base64.b64encode(req("https://sp.fuzz.example", "https://sp.fuzz.example/acs"))),
    "redirect": (1, base64.b64encode(deflate(req("https://sp.fuzz.example", index=1)))),
    "xml-post": (2, req("https://sp.fuzz.example")),
    "xml-signed-sp": (2, req("https://signed.fuzz.example", "https://signed.fuzz.example/acs")),
    "xml-redirect-query": (3, req("https://signed.fuzz.example") + b"\0SAMLRequest=abc&RelayState=x&SigAlg=http%3A%2F%2Fwww.w3.org%2F2001%2F04%2Fxmldsig-more%23rsa-sha256&Signature=c2ln"),
}
for name, (mode, body) in seeds.items():
    with open(f"authn_request/seed-{name}", "wb") as f:
        f.write(bytes([mode]) + body)
PY
