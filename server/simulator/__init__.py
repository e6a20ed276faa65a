"""The simulated WhatsApp behind the `simulator` engine: a service of its own (`python -m server.simulator`) that
every engine host connects to. clock (time), content (what a message may carry), groups (WhatsApp's group rules),
network (devices, messages, receipts, logins), store (what survives a restart), service (gRPC)."""
