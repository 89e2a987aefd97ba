"""The worked examples of the contract (reference §3.2) and properties of sign/verify."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from scp_images.signing import compute_signature, sign_request, signature_candidates, verify_signature

SECRET = "SKEXAMPLE/secret+key=0123456789abcdef"
ACCESS = "AKEXAMPLE1234567890"
TS = "1767225600000"
IMAGE = "70a599e0-31e7-49b7-b260-868f441e862b"


@pytest.mark.parametrize(
    ("method", "url", "account", "expected"),
    [
        (
            "GET",
            f"https://virtualserver.kr-west1.e.samsungsdscloud.com/v1/images/{IMAGE}",
            "",
            "Wo9jC6TRJeJ9cC1qjaGfV8XKHbdLlgibHucQCTeRUS4=",
        ),
        (
            "GET",
            f"https://virtualserver.kr-west1.e.samsungsdscloud.com/v1/images/{IMAGE}",
            "8989447062e04a818baf9e073fd04fa7",
            "8oIyLBNk9zsQgwq+vFz1vQreGigmRLJh/1hWXxI6YSk=",
        ),
        (
            "GET",
            f"http://127.0.0.1:8080/v1/images/{IMAGE}",
            "",
            "JmEQzFhr50NdTCIE0giVuyGPf+No9qGy4HBq4r9V5oU=",
        ),
        (
            "GET",
            "http://127.0.0.1:8080/v1/images?limit=5&sort=created_at%3Adesc",
            "",
            "OfNPjtPd2pgw4X7FZqD2fYf0WZ0heL3XGGBXeuYXSRc=",
        ),
        (
            "GET",
            "http://127.0.0.1:8080/v1/images?limit=5&sort=created_at:desc",
            "",
            "QDX5W2EjpwqS5mk4Ou1pUtkBgdqTjQDzw0/60Uo0pPo=",
        ),
        ("POST", "http://127.0.0.1:8080/v1/images", "", "4E4bPPnnqbzLrU3bRS4ZTAXSZRSc+onVz/V0pAy03IA="),
    ],
)
def test_reference_examples(method: str, url: str, account: str, expected: str) -> None:
    assert compute_signature(method, url, TS, ACCESS, SECRET, account) == expected


def _headers(sig: str, account: str | None = None) -> dict[str, str]:
    h = {"Scp-Accesskey": ACCESS, "Scp-Signature": sig, "Scp-Timestamp": TS, "Scp-ClientType": "Openapi"}
    if account is not None:
        h["Scp-AccountId"] = account
    return h


def test_wire_and_unquoted_query_both_verify() -> None:
    base, path, wire = "http://127.0.0.1:8080", "/v1/images", "limit=5&name=my+image&sort=created_at%3Adesc"
    candidates = signature_candidates([base], path, wire)
    go_sig = compute_signature("GET", f"{base}{path}?{wire}", TS, ACCESS, SECRET)
    py_sig = compute_signature(
        "GET", f"{base}{path}?limit=5&name=my image&sort=created_at:desc", TS, ACCESS, SECRET
    )
    for sig in (go_sig, py_sig):
        assert verify_signature(
            method="GET", candidate_urls=candidates, headers=_headers(sig), secret_key=SECRET, account_id=""
        )


def test_a_reencoded_query_does_not_verify() -> None:
    base, path = "http://127.0.0.1:8080", "/v1/images"
    candidates = signature_candidates([base], path, "sort=created_at%3Adesc")
    sig = compute_signature("GET", f"{base}{path}?sort=created_at%253Adesc", TS, ACCESS, SECRET)
    assert not verify_signature(
        method="GET", candidate_urls=candidates, headers=_headers(sig), secret_key=SECRET, account_id=""
    )


urls = st.builds(
    lambda host, path, query: f"http://{host}{path}" + (f"?{query}" if query else ""),
    st.sampled_from(["127.0.0.1:8080", "virtualserver.kr-west1.e.samsungsdscloud.com"]),
    st.text(alphabet="abcdefghijklmnopqrstuvwxyz0123456789-/%", min_size=1, max_size=40).map(
        lambda p: "/" + p
    ),
    st.text(alphabet="abcdefghijklmnopqrstuvwxyz0123456789=&%+:", max_size=40),
)


@given(
    url=urls,
    secret=st.text(min_size=1, max_size=40),
    account=st.sampled_from(["", "0" * 32]),
    method=st.sampled_from(["GET", "POST", "PUT", "DELETE"]),
)
def test_sign_then_verify_round_trips_and_tampering_fails(
    url: str, secret: str, account: str, method: str
) -> None:
    signed = sign_request(method, url, ACCESS, secret, account or None, timestamp_ms=1767225600000)
    headers = signed.as_dict()
    assert verify_signature(
        method=method, candidate_urls=[url], headers=headers, secret_key=secret, account_id=account
    )
    assert not verify_signature(
        method=method, candidate_urls=[url + "x"], headers=headers, secret_key=secret, account_id=account
    )
    assert not verify_signature(
        method=method, candidate_urls=[url], headers=headers, secret_key=secret + "x", account_id=account
    )
    other = "POST" if method != "POST" else "GET"
    assert not verify_signature(
        method=other, candidate_urls=[url], headers=headers, secret_key=secret, account_id=account
    )
