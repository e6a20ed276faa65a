"""`python -m server.api`: one API server (the public gRPC services), behind Envoy."""

from server.api.app import main

main()
