"""The engine host: the process that owns live WhatsApp sessions and the engines. Other roles reach it only
through `client`."""
