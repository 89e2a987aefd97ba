"""The pure rules of import source access (``scp_images.domain.sources``): grants, prefixes, redaction."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from scp_images.domain.errors import ImportSourceForbidden, ImportSourceOtherAccount, InvalidSourceGrant
from scp_images.domain.sources import (
    MAX_SHOWN_URL,
    REDACTED,
    ObjectStorageLocation,
    SourceGrant,
    new_grant,
    normalise_prefix,
    prefix_covers,
    redact_url,
    require_readable,
)

A = "a" * 32
B = "b" * 32
BLOBS = frozenset({"blobs"})

# --- prefixes ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("prefix", "key", "covered"),
    [
        ("a/b", "a/b/x", True),
        ("a/b", "a/b/x/y.qcow2", True),
        ("a/b", "a/b", True),  # the object named exactly by the prefix: a grant may name one object
        ("a/b", "a/bc/x", False),  # the boundary is a whole segment, not a string prefix
        ("a/b", "a/bc", False),
        ("a/b", "a", False),
        ("a/b", "x/a/b/c", False),
        ("a/b", "/a/b/c", False),  # a leading slash is another key
        ("a/b", "a//b/c", False),
        ("a", "a//b", True),
        ("a/b", "a/b/", True),  # a folder marker object
        ("", "anything/at/all", True),  # the empty prefix is the whole bucket
        ("", "", True),
    ],
)
def test_prefix_matches_whole_segments(prefix: str, key: str, covered: bool) -> None:
    assert prefix_covers(prefix, key) is covered


@pytest.mark.parametrize(
    ("given", "stored"),
    [("", ""), ("/", ""), ("a", "a"), ("a/b", "a/b"), ("a/b/", "a/b"), ("ü/ß", "ü/ß")],
)
def test_normalised_prefix(given: str, stored: str) -> None:
    """One trailing slash is only another spelling of the folder; "/" (like "") is the whole bucket."""
    assert normalise_prefix(given) == stored


@pytest.mark.parametrize("prefix", ["/a", "a//b", "a//", "//", "a/./b", "a/..", "..", "a\x00b", "x" * 1025])
def test_prefixes_that_could_never_match_segment_wise_are_refused(prefix: str) -> None:
    with pytest.raises(InvalidSourceGrant):
        normalise_prefix(prefix)


segment = st.text(
    st.characters(min_codepoint=0x21, max_codepoint=0x2FF, exclude_characters="/\x7f"), min_size=1
)
segments = st.lists(segment.filter(lambda s: s not in (".", "..")), min_size=1, max_size=5)


@given(prefix=segments, rest=st.lists(segment, max_size=4))
def test_a_prefix_covers_every_key_below_it(prefix: list[str], rest: list[str]) -> None:
    assert prefix_covers("/".join(prefix), "/".join(prefix + rest))


@given(prefix=segments, tail=segment, rest=st.lists(segment, max_size=3))
def test_a_longer_last_segment_is_never_covered(prefix: list[str], tail: str, rest: list[str]) -> None:
    """``a/b`` must not cover ``a/bX…``: a string prefix that ends inside a segment is no match."""
    key = "/".join([*prefix[:-1], prefix[-1] + tail, *rest])
    assert not prefix_covers("/".join(prefix), key)


@given(prefix=segments, suffix=st.text(max_size=40))
def test_a_key_extending_the_prefix_text_is_covered_only_at_a_segment_boundary(
    prefix: list[str], suffix: str
) -> None:
    """Of the keys S3 would list under the prefix text, exactly those that continue with '/' (or the
    prefix itself) are covered."""
    text = "/".join(prefix)
    assert prefix_covers(text, text + suffix) == (suffix == "" or suffix.startswith("/"))


@given(prefix=segments, key=st.text(max_size=60))
def test_a_key_not_starting_with_the_prefix_text_is_never_covered(prefix: list[str], key: str) -> None:
    text = "/".join(prefix)
    if not key.startswith(text):
        assert not prefix_covers(text, key)


@given(prefix=segments, suffix=st.text(max_size=40))
def test_a_trailing_slash_covers_exactly_the_same_keys(prefix: list[str], suffix: str) -> None:
    text = "/".join(prefix)
    assert normalise_prefix(text + "/") == normalise_prefix(text) == text
    assert prefix_covers(normalise_prefix(text + "/"), text + suffix) == prefix_covers(text, text + suffix)


# --- grants -----------------------------------------------------------------------------------------------


@pytest.mark.parametrize("prefix", ["", "images", "images/a/b/", "other/prefix", "/"])
@pytest.mark.parametrize("protected", [{"blobs"}, {"BLOBS"}], ids=["same-case", "mixed-case-setting"])
def test_the_blob_store_bucket_is_never_grantable(prefix: str, protected: set[str]) -> None:
    with pytest.raises(InvalidSourceGrant, match="holds this service's image data"):
        new_grant(A, "blobs", prefix, protected)


@pytest.mark.parametrize(
    ("account", "bucket"), [("A" * 32, "src"), ("a" * 31, "src"), (A, "ab"), (A, "Src"), (A, "a..b"), (A, "")]
)
def test_malformed_grants_are_refused(account: str, bucket: str) -> None:
    with pytest.raises(InvalidSourceGrant):
        new_grant(account, bucket, "", BLOBS)


def test_a_grant_stores_the_normalised_prefix() -> None:
    assert new_grant(A, "src", "a/b/", BLOBS) == SourceGrant(A, "src", "a/b")


# --- who may read what ------------------------------------------------------------------------------------

GRANTS = [SourceGrant(A, "src", "a"), SourceGrant(B, "src", "b"), SourceGrant(B, "blobs", "")]


def test_inside_a_grant_is_readable() -> None:
    require_readable(A, ObjectStorageLocation("src", "a/private.qcow2"), GRANTS, BLOBS)
    require_readable(A, ObjectStorageLocation("src", "a/x.qcow2", A), GRANTS, BLOBS)


@pytest.mark.parametrize(
    "location",
    [
        ObjectStorageLocation("src", "a/private.qcow2"),  # A's prefix, not B's
        ObjectStorageLocation("src", "bb/x.qcow2"),  # B's prefix is "b": "bb" is another segment
        ObjectStorageLocation("other", "b/x.qcow2"),  # no grant on that bucket
        ObjectStorageLocation("src", "b/x.qcow2", "c" * 32),  # another account's Object Storage URL
        ObjectStorageLocation("blobs", "images/abc/def"),  # the blob store, even with B's grant row
        ObjectStorageLocation("BLOBS", "images/abc/def"),
    ],
)
def test_outside_the_callers_grants_is_forbidden(location: ObjectStorageLocation) -> None:
    with pytest.raises(ImportSourceForbidden):
        require_readable(B, location, GRANTS, BLOBS)


def test_another_accounts_object_storage_url_is_refused_even_inside_the_callers_grant() -> None:
    with pytest.raises(ImportSourceOtherAccount, match=f"account {A}"):
        require_readable(B, ObjectStorageLocation("src", "b/x.qcow2", A), GRANTS, BLOBS)


def test_the_blob_bucket_reads_like_any_ungranted_bucket() -> None:
    """The refusal does not tell that a bucket is the service's own: same class, same text shape."""
    with pytest.raises(ImportSourceForbidden) as blob:
        require_readable(B, ObjectStorageLocation("blobs", "k"), GRANTS, BLOBS)
    with pytest.raises(ImportSourceForbidden) as other:
        require_readable(B, ObjectStorageLocation("other", "k"), GRANTS, BLOBS)
    assert type(blob.value) is type(other.value) is ImportSourceForbidden
    assert blob.value.message.replace("blobs", "other") == other.value.message


# --- redaction --------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("url", "shown"),
    [
        (
            "https://h/x.qcow2?X-Amz-Credential=AKIA%2F1&X-Amz-Signature=abc",
            f"https://h/x.qcow2?X-Amz-Credential={REDACTED}&X-Amz-Signature={REDACTED}",
        ),
        ("https://h/x.qcow2?secret-token", f"https://h/x.qcow2?{REDACTED}"),
        ("https://h/x.qcow2?a=&b", f"https://h/x.qcow2?a={REDACTED}&{REDACTED}"),
        ("https://h/x.qcow2?a=1&&b=2", f"https://h/x.qcow2?a={REDACTED}&&b={REDACTED}"),
        ("HTTPS://h/x.qcow2#access_token=t", f"HTTPS://h/x.qcow2#{REDACTED}"),
        ("https://h/x.qcow2?", "https://h/x.qcow2?"),
        ("https://h/x.qcow2", "https://h/x.qcow2"),
        ("s3://bucket/key?with=literal", "s3://bucket/key?with=literal"),  # an s3 key is literal
        (None, None),
    ],
)
def test_redaction_keeps_names_and_replaces_values(url: str | None, shown: str | None) -> None:
    assert redact_url(url) == shown


# Values as presigned URLs carry them (base64url, hex, percent-escapes); long enough to be unmistakable.
token = st.text(
    st.sampled_from("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789%-_~+"), min_size=24
)
name = st.text(st.sampled_from("abcdefghijklmnopqrstuvwxyz-"), min_size=1, max_size=16)


@given(params=st.lists(st.tuples(name, token), min_size=1, max_size=6), fragment=st.none() | token)
def test_no_query_value_or_fragment_survives_redaction(
    params: list[tuple[str, str]], fragment: str | None
) -> None:
    query = "&".join(f"{key}={value}" for key, value in params)
    url = f"https://mirror.example.com/a/b.qcow2?{query}" + ("" if fragment is None else f"#{fragment}")
    shown = redact_url(url)
    assert shown is not None
    assert shown.startswith("https://mirror.example.com/a/b.qcow2?")
    for key, value in params:
        assert value not in shown
        assert f"{key}={REDACTED}" in shown
    if fragment is not None:
        assert fragment not in shown
    assert redact_url(shown) == shown  # idempotent: rows stored redacted are shown unchanged


@given(query=st.text(st.sampled_from("ab=&"), max_size=400))
def test_redaction_never_grows_past_what_the_image_row_holds(query: str) -> None:
    """``?a&a&a…`` grows when each bare parameter becomes REDACTED; past the column only ?REDACTED stays."""
    url = f"https://h/x.qcow2?{query}"
    shown = redact_url(url)
    assert shown is not None and len(shown) <= max(len(url), MAX_SHOWN_URL)
    assert redact_url(shown) == shown


def test_a_query_too_long_to_show_parameter_by_parameter_is_one_marker() -> None:
    url = "https://h/x.qcow2?" + "&".join(["t"] * 200)
    assert redact_url(url) == f"https://h/x.qcow2?{REDACTED}"
