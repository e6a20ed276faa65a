"""The WA Gateway gRPC API server: services over Peewee storage, auth, and the process launcher."""
