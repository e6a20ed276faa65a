"""Starting a deployment (issue 14 points 1 and 2): six processes of three roles started at once on an empty
PostgreSQL database all come up (the schema is made once, whoever is first), and the admin key from the
environment works on every API server, without `make run` (which used to be the only one to ensure it)."""

from __future__ import annotations

import os
import secrets
import subprocess
import sys

import grpc

from server.core.config import ROOT
from tests.support import stack
from tests.support.net import LOCALHOST, free_port, wait_for_port
from wagw.v1 import profiles_pb2, profiles_pb2_grpc


def test_six_processes_start_at_once_on_an_empty_database():
    admin_key = stack.test_admin_key()
    with stack.postgres_database() as url:
        env = {**os.environ, "DATABASE_URL": url, "WAGW_ADMIN_API_KEY": admin_key, "WAGW_BROKER": "redis",
               "WAGW_REDIS_NAMESPACE": f"wagw-test-{secrets.token_hex(4)}", "WAGW_LOG_LEVEL": "WARNING",
               "WAGW_INTERNAL_TOKEN": secrets.token_urlsafe(16), "WAGW_SIMULATOR_PORT": str(free_port()),
               "PYTHONPATH": f"{ROOT}{os.pathsep}{ROOT / 'gen'}"}
        api_ports = [free_port(), free_port()]
        host_ports = [free_port(), free_port()]
        commands = [
            *(("server.api", {"WAGW_GRPC_HOST": LOCALHOST, "WAGW_GRPC_PORT": str(port),
                              "WAGW_GRPC_UNARY_PORT": str(free_port()), "WAGW_METRICS_PORT": str(free_port())})
              for port in api_ports),
            *(("server.engine_host", {"WAGW_ENGINE_HOST": LOCALHOST, "WAGW_ENGINE_PORT": str(port),
                                      "WAGW_ENGINE_HOST_ID": f"host-{port}"}) for port in host_ports),
            ("worker", {}),
            ("worker", {}),
        ]
        processes = [subprocess.Popen([sys.executable, "-m", module], env={**env, **own}, cwd=ROOT,
                                      stderr=subprocess.PIPE) for module, own in commands]
        try:
            for port in (*api_ports, *host_ports):
                wait_for_port(port, timeout=60)
            for port in api_ports:
                with grpc.insecure_channel(f"{LOCALHOST}:{port}") as channel:
                    reply = profiles_pb2_grpc.ProfileServiceStub(channel).ListProfiles(
                        profiles_pb2.ListProfilesRequest(), metadata=[("x-api-key", admin_key)], timeout=10)
                assert reply.total_size == 0
            # Every process migrates first, under the same lock: once the API servers answer, the others have
            # migrated too (or died trying, as three of six did before).
            crashed = [(command[0], process.returncode, process.stderr.read().decode()[-2000:])
                       for command, process in zip(commands, processes, strict=True) if process.poll() is not None]
            assert not crashed, crashed
        finally:
            for process in processes:
                process.terminate()
            for process in processes:
                try:
                    process.wait(timeout=20)
                except subprocess.TimeoutExpired:
                    process.kill()
            stack.forget_namespace(env)  # the workers' heartbeats
