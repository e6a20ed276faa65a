"""The Envoy gateway: config (envoy.yaml at the repository root), the REST envelope (envelope.lua), and a
small runner (envoy.py) that starts Envoy for `make run` and for tests."""
