from hypothesis import example, given, settings, strategies as st
from tests.hostile.test_headers_and_bodies import *  # noqa
from tests.hostile.conftest import seeded, http  # noqa

def test_limit_sup(seeded, http):
    target = url(seeded.stack.base_url, "/v1/images", {"limit": "²"})
    r = send(http, "GET", target, signed_headers("GET", target, seeded.caller))
    print(r.status_code, r.text[:100])
    assert_refused(r, 400)

def test_name_nul(seeded, http):
    target = url(seeded.stack.base_url, "/v1/images", {"name": "\x00"})
    r = send(http, "GET", target, signed_headers("GET", target, seeded.caller))
    print(r.status_code, r.text[:100])
    assert r.status_code == 200
