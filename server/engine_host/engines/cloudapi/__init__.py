"""The `cloudapi` engine (engine.py) and Meta's webhooks for it (webhooks.py)."""
