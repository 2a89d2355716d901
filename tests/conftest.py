"""Shared fixtures: the project's params and a tiny, fast configuration of the synthetic generator."""

from pathlib import Path

import pytest

from cba.config import GenerateParams, Params, load_params

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="session")
def params() -> Params:
    """The project's own ``params.yaml``."""
    return load_params(ROOT / "params.yaml")


@pytest.fixture(scope="session")
def tiny_generate_params(params: Params) -> GenerateParams:
    """The project's generator settings (window, churn rate, fault rates) shrunk to a few seconds of work."""
    return params.generate.model_copy(update={"num_customers": 300, "num_events": 20_000})


@pytest.fixture(scope="session")
def kafka_bootstrap(tmp_path_factory) -> str:
    """``HOST:PORT`` of a Kafka-protocol broker (Tansu, in memory) on 127.0.0.1 for the session."""
    from services import kafka_broker

    with kafka_broker(tmp_path_factory.mktemp("tansu") / "tansu.log") as bootstrap:
        yield bootstrap


@pytest.fixture(scope="session")
def search_url(tmp_path_factory) -> str:
    """Base URL of an OpenSearch-compatible server (osmem, in memory) on 127.0.0.1 for the session."""
    from services import search_server

    with search_server(tmp_path_factory.mktemp("osmem") / "osmem.log") as url:
        yield url
