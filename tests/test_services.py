"""compose.yaml and the README's live-services commands, checked offline (no Docker engine needed)."""

import re
import shlex
from pathlib import Path

import click
import pytest
import typer
import yaml

from cba.cli import app

ROOT = Path(__file__).resolve().parents[1]
COMPOSE = yaml.safe_load((ROOT / "compose.yaml").read_text())
SERVICES = COMPOSE["services"]
PARAMS = yaml.safe_load((ROOT / "params.yaml").read_text())
ELASTIC_VERSION = "8.19.2"


def readme_commands() -> list[list[str]]:
    """The commands of the README's live-services block, one argument list per line."""
    text = (ROOT / "README.md").read_text()
    block = re.search(r"<!-- services:start -->\n```bash\n(.*?)```\n<!-- services:end -->", text, re.DOTALL)
    assert block, "README.md has no services block between <!-- services:start --> and <!-- services:end -->"
    return [shlex.split(line, comments=True) for line in block[1].splitlines() if line.strip()]


def published(service: str, container_port: int) -> tuple[str, int]:
    """``(host address, host port)`` where ``service`` publishes ``container_port``."""
    for mapping in SERVICES[service]["ports"]:
        address, host_port, port = mapping.split(":")
        if int(port) == container_port:
            return address, int(host_port)
    raise AssertionError(f"{service} does not publish port {container_port}")


def option_values(option: str) -> set[str]:
    values = set()
    for args in readme_commands():
        values |= {args[i + 1] for i, arg in enumerate(args[:-1]) if arg == option}
    return values


@pytest.mark.parametrize("service", sorted(SERVICES))
def test_every_image_is_pinned_to_a_release(service):
    image = SERVICES[service]["image"]
    assert re.fullmatch(r"[\w./-]+:\d+\.\d+\.\d+", image), f"{service}: {image} is not pinned to a release"


def test_elasticsearch_and_kibana_share_one_8x_release():
    versions = {SERVICES[name]["image"].rsplit(":", 1)[1] for name in ("elasticsearch", "kibana")}
    assert versions == {ELASTIC_VERSION}


def test_kafka_runs_in_kraft_mode_without_zookeeper():
    assert not any("zookeeper" in f"{name} {spec['image']}".lower() for name, spec in SERVICES.items())
    environment = SERVICES["kafka"]["environment"]
    assert set(environment["KAFKA_PROCESS_ROLES"].split(",")) == {"broker", "controller"}
    assert environment["KAFKA_CONTROLLER_QUORUM_VOTERS"]
    assert not any("ZOOKEEPER" in key for key in environment)


@pytest.mark.parametrize("service", sorted(SERVICES))
def test_every_service_has_a_health_check_and_publishes_on_loopback_only(service):
    assert SERVICES[service]["healthcheck"]["test"]
    for mapping in SERVICES[service]["ports"]:
        assert mapping.startswith("127.0.0.1:"), f"{service} publishes {mapping} beyond this machine"


def test_elasticsearch_is_one_node_and_kibana_waits_for_it():
    assert SERVICES["elasticsearch"]["environment"]["discovery.type"] == "single-node"
    assert SERVICES["kibana"]["depends_on"]["elasticsearch"]["condition"] == "service_healthy"
    assert SERVICES["kibana"]["environment"]["ELASTICSEARCH_HOSTS"] == '["http://elasticsearch:9200"]'


def test_kafka_listens_where_params_and_the_readme_point():
    address, port = published("kafka", 9092)
    bootstrap = f"{address}:{port}"
    assert PARAMS["kafka"]["bootstrap_servers"] == bootstrap
    assert SERVICES["kafka"]["environment"]["KAFKA_ADVERTISED_LISTENERS"] == f"PLAINTEXT://{bootstrap}"
    assert option_values("--bootstrap-servers") == {bootstrap}


def test_the_readme_uses_the_published_elasticsearch_and_kibana_addresses():
    es_address, es_port = published("elasticsearch", 9200)
    kibana_address, kibana_port = published("kibana", 5601)
    assert option_values("--es-url") == {f"http://{es_address}:{es_port}"}
    assert option_values("--kibana-url") == {f"http://{kibana_address}:{kibana_port}"}


def test_every_cba_command_in_the_readme_is_accepted_by_the_cli():
    commands = [args[1:] for args in readme_commands() if args[0] == "cba"]
    assert len(commands) >= 5
    for args in commands:
        command, name = typer.main.get_command(app), "cba"
        while isinstance(command, click.Group):
            name, *args = args
            command = command.get_command(click.Context(command), name)
            assert command is not None, f"cba has no command {name!r}"
        command.make_context(name, list(args))  # raises click.UsageError on an unknown or bad option


def test_the_readme_starts_and_stops_the_services_with_compose():
    lines = [" ".join(args) for args in readme_commands()]
    assert lines[0] == "docker compose up -d --wait" and lines[-1] == "docker compose down -v"
