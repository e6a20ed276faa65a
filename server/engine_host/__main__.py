"""`python -m server.engine_host`: one engine host (live WhatsApp sessions)."""

from server.engine_host.host import main

main()
