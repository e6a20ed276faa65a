"""WA Gateway: the roles (core, api, engine_host, simulator) and the entry points (launch, cli)."""
