"""The shared core: storage, configuration, errors, the message lifecycle, the send gate, the event log and
the outbound URL guard. It imports no role (see the import-linter contracts in pyproject.toml)."""
