"""Helpers shared by the test modules: free ports, a real gRPC server, a real Envoy in front of it."""
