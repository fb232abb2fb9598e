"""docs/deploy.md's nginx configuration, run for real in front of two `serve` processes.

The server blocks are taken from the guide as written; only what a test machine needs is
changed (ports on 127.0.0.1, a self-signed certificate, the two upstream addresses, temporary
paths). Skipped when nginx is not installed (`.ci/run` installs Debian's nginx-light).
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from datetime import UTC, datetime
from pathlib import Path

import pytest
import requests
import sqlalchemy as sa

from lrs_connector import learner_links
from lrs_connector.store import database
from lrs_connector.store.account_tables import login_throttle
from tests.integration.test_scale_out import _answers, _wait
from tests.network import free_port

NGINX = shutil.which("nginx") or ("/usr/sbin/nginx" if os.path.exists("/usr/sbin/nginx") else None)
pytestmark = [
    pytest.mark.slow,
    # the test's certificate is self-signed for readiness.example.org; requests go to 127.0.0.1
    pytest.mark.filterwarnings("ignore::urllib3.exceptions.InsecureRequestWarning"),
    pytest.mark.skipif(NGINX is None, reason="no nginx (apt-get install nginx-light)"),
]
GUIDE = Path(__file__).resolve().parents[2] / "docs" / "deploy.md"
HOST = "readiness.example.org"
SECRET_KEY = "k" * 40


def _guide_config() -> str:
    """The ```nginx block of the deployment guide."""
    found = re.search(r"```nginx\n(.*?)```", GUIDE.read_text(), re.S)
    assert found, "docs/deploy.md has no nginx block"
    return found.group(1)


def _test_config(guide: str, http: int, https: int, upstreams: list[int], folder: Path) -> str:
    cert, key = folder / "cert.pem", folder / "key.pem"
    subprocess.run(
        ["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1", "-subj",
         f"/CN={HOST}", "-keyout", str(key), "-out", str(cert)],
        check=True, capture_output=True)
    servers = "".join(f"    server 127.0.0.1:{port};\n" for port in upstreams)
    config = re.sub(r"(upstream lrs_connector \{\n)(?:\s*#?\s*server [^\n]*\n)+",
                    lambda m: m.group(1) + servers, guide)
    for old, new in [("listen 80;", f"listen 127.0.0.1:{http};"),
                     ("listen 443 ssl http2;", f"listen 127.0.0.1:{https} ssl http2;"),
                     (f"/etc/ssl/{HOST}.crt", str(cert)), (f"/etc/ssl/{HOST}.key", str(key))]:
        assert old in config, f"the guide's nginx block changed: {old!r} is gone"
        config = config.replace(old, new)
    temp = "".join(f"    {name}_temp_path {folder / name};\n"
                   for name in ("client_body", "proxy", "fastcgi", "uwsgi", "scgi"))
    return (f"user root;\ndaemon off;\npid {folder / 'nginx.pid'};\n"
            f"error_log {folder / 'error.log'} info;\nevents {{}}\n"
            f"http {{\n    log_format upstream '$upstream_addr';\n"
            f"    access_log {folder / 'access.log'} upstream;\n{temp}{config}}}\n")


@pytest.fixture
def stack(engine, database_url, tmp_path):
    """nginx with the guide's configuration, in front of two `serve` web processes."""
    http, https = free_port(), free_port()
    webs = [free_port(), free_port()]
    env = {**os.environ, "LRS_CONNECTOR_DATABASE_URL": database_url,
           "LRS_CONNECTOR_DATA_DIR": str(tmp_path), "LRS_CONNECTOR_SECRET_KEY": SECRET_KEY,
           "LRS_CONNECTOR_PROXY_HOPS": "1", "LRS_CONNECTOR_WEB_WORKERS": "1",
           "LRS_CONNECTOR_EMBEDDED_PROCESSOR": "false", "LRS_CONNECTOR_EMBEDDED_PULLER": "false",
           "LRS_CONNECTOR_EMBEDDED_DISPATCHER": "false", "LRS_CONNECTOR_LOG_FORMAT": "text",
           "LRS_CONNECTOR_UI_FRAME_ANCESTORS": "https://lms.example.org"}
    env.pop("PROMETHEUS_MULTIPROC_DIR", None)
    processes: list[subprocess.Popen] = []
    conf = tmp_path / "nginx.conf"
    conf.write_text(_test_config(_guide_config(), http, https, webs, tmp_path))
    try:
        for port in webs:
            processes.append(subprocess.Popen(
                [sys.executable, "-m", "lrs_connector", "serve"],
                env={**env, "LRS_CONNECTOR_PORT": str(port)},
                stdout=(tmp_path / f"web{port}.log").open("w"), stderr=subprocess.STDOUT))
        for port in webs:
            _wait(lambda port=port: _answers(port), 60)
        nginx = subprocess.Popen([NGINX, "-p", str(tmp_path), "-c", str(conf)],
                                 stdout=subprocess.DEVNULL, stderr=subprocess.STDOUT)
        processes.append(nginx)
        _wait(lambda: _get(https, "/healthz") is not None, 30)
        yield {"http": http, "https": https, "webs": processes[:2], "ports": webs,
               "folder": tmp_path}
    finally:
        for process in processes:
            process.terminate()
        for process in processes:
            try:
                process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                process.kill()


class _FromAddress(requests.adapters.HTTPAdapter):
    """Connections from another loopback address than nginx's own."""

    def __init__(self, address: str) -> None:
        self.address = address
        super().__init__()

    def init_poolmanager(self, *args, **kwargs):
        kwargs["source_address"] = (self.address, 0)
        super().init_poolmanager(*args, **kwargs)


def _get(port: int, path: str, headers: dict | None = None) -> requests.Response | None:
    try:
        return requests.get(f"https://127.0.0.1:{port}{path}", headers={"Host": HOST, **(
            headers or {})}, verify=False, timeout=10)
    except requests.RequestException:
        return None


def test_the_guides_nginx_config_in_front_of_two_web_processes(stack, engine):
    https = stack["https"]
    # plain HTTP is sent to HTTPS
    plain = requests.get(f"http://127.0.0.1:{stack['http']}/healthz", headers={"Host": HOST},
                         allow_redirects=False, timeout=10)
    assert plain.status_code == 301 and plain.headers["Location"] == f"https://{HOST}/healthz"
    # requests are spread over both web processes (nginx's round robin, its access log says where)
    assert all(_get(https, "/healthz").status_code == 200 for _ in range(6))
    served = (stack["folder"] / "access.log").read_text().split()
    assert {f"127.0.0.1:{port}" for port in stack["ports"]} <= set(served), served
    # health through the proxy; nginx's request id replaces the client's and reaches the answer
    answer = _get(https, "/healthz", {"X-Request-Id": "client-chosen"})
    assert answer.status_code == 200
    assert re.fullmatch(r"[0-9a-f]{32}", answer.headers["X-Request-Id"])
    # a body over client_max_body_size (= max_request_bytes) is refused before the connector
    big = requests.post(f"https://127.0.0.1:{https}/xapi/statements", data=b"[" + b" " * (9 << 20),
                        headers={"Host": HOST, "Content-Type": "application/json"},
                        verify=False, timeout=30)
    assert big.status_code == 413
    # the learner page's frame rule survives the proxy
    token = learner_links.issue(SECRET_KEY, 1, datetime.now(UTC))
    page = _get(https, f"/learner/{token}")
    assert page is not None and "frame-ancestors https://lms.example.org" in page.headers.get(
        "Content-Security-Policy", "")
    # proxy_hops = 1: the connector sees the client's address (127.0.0.2 here, where nginx
    # itself connects from 127.0.0.1), not nginx's, and not a forged X-Forwarded-For
    session = requests.Session()
    session.mount("https://", _FromAddress("127.0.0.2"))
    form = session.get(f"https://127.0.0.1:{https}/login", headers={"Host": HOST}, verify=False,
                       timeout=10)
    csrf = re.search(r'name="csrf_token" value="([^"]+)"', form.text).group(1)
    refused = session.post(
        f"https://127.0.0.1:{https}/login", verify=False, timeout=10,
        data={"csrf_token": csrf, "username": "nobody", "password": "wrong"},
        headers={"Host": HOST, "X-Forwarded-For": "203.0.113.9", "Origin": f"https://{HOST}",
                 "Referer": f"https://{HOST}/login"})
    assert refused.status_code == 401, refused.text[:500]
    with database.read(engine) as conn:
        keys = set(conn.execute(sa.select(login_throttle.c.key)).scalars())
    assert "address:127.0.0.2" in keys
    assert "address:127.0.0.1" not in keys and "address:203.0.113.9" not in keys
    # one web process gone: nginx passes requests to the other
    stack["webs"][0].terminate()
    stack["webs"][0].wait(timeout=20)
    assert all(_get(https, "/healthz").status_code == 200 for _ in range(6))
