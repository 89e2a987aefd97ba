"""Audit tests use the lifecycle tests' object store fixtures for URL imports."""

from tests.api.conftest import put_object, s3, source_bucket  # noqa: F401 - shared fixtures
