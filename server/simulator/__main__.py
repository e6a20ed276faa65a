"""`python -m server.simulator`: the simulated WhatsApp's server side (one per gateway, for every engine host)."""

from server.simulator.service import main

main()
