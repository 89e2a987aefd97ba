"""The OpenStack edge: just enough Keystone v3 for tokens, and the Image API v2, over the same services."""
