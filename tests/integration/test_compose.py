"""The Docker deployment files, validated without a Docker engine: the compose
file parses and has the promised shape, and the image installs from the same
installer and package list as the native install."""
import pytest

from hookpipe_support import ROOT, run

COMPOSE = ROOT / "compose" / "docker-compose.yml"


@pytest.fixture(scope="module")
def config():
    out = run(["docker-compose", "-f", str(COMPOSE), "config"], check=False)
    assert out.returncode == 0, out.stderr
    import yaml
    return yaml.safe_load(out.stdout)


def test_compose_file_is_valid(config):
    services = config["services"]
    for name in ["kafka1", "kafka2", "kafka3", "postgres", "registry1", "registry2",
                 "gateway1", "gateway2", "lb", "sink1", "sink2"]:
        assert name in services, name
    for name in ["kafka1", "kafka2", "kafka3"]:
        assert services[name]["image"].startswith("apache/kafka:4.")
        assert "healthcheck" in services[name]
    for name in ["postgres", "registry1", "registry2", "gateway1", "gateway2"]:
        assert "healthcheck" in services[name], name
    voters = services["kafka1"]["environment"]["KAFKA_CONTROLLER_QUORUM_VOTERS"]
    assert voters.count("@") == 3


def test_image_installs_from_the_native_list():
    dockerfile = (ROOT / "compose" / "Dockerfile").read_text()
    assert "compose/local/install-deps debian" in dockerfile
    assert "COPY compose/debian-packages.txt" in dockerfile
