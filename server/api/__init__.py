"""The API server: the public gRPC services, authentication, and what happens around every RPC."""
