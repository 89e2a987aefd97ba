"""deploy/ as written: the systemd units pass ``systemd-analyze verify`` and the nginx files pass ``nginx -t``
(the cluster test then runs real traffic through them)."""

from __future__ import annotations

import datetime
import subprocess
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from tests.support.nginx import DEPLOY, PROXY_CONF, UPSTREAM_CONF, upstream_block
from tests.support.tools import REPOSITORY, require_tool

UNITS = REPOSITORY / "deploy" / "systemd"
INSTALLED = "/opt/scp-images/bin/scp-images"  # where the units say the package's script is


def _units_with_this_machines_binary(folder: Path) -> list[Path]:
    """The units as written, except that ExecStart names an executable that exists here (verify checks it)."""
    stand_in = folder / "scp-images"
    stand_in.write_text("#!/bin/sh\nexit 0\n")
    stand_in.chmod(0o755)
    copied = []
    for unit in sorted(UNITS.iterdir()):
        text = unit.read_text()
        if unit.suffix == ".service":
            assert f"ExecStart={INSTALLED} " in text, f"{unit.name} no longer runs {INSTALLED}"
        (folder / unit.name).write_text(text.replace(INSTALLED, str(stand_in)))
        copied.append(folder / unit.name)
    return copied


def test_the_systemd_units_verify(tmp_path: Path) -> None:
    analyze = require_tool("systemd-analyze", hint="install systemd (Debian's systemd package)")
    units = _units_with_this_machines_binary(tmp_path)
    names = {unit.name for unit in units}
    assert {"scp-images-serve@.service", "scp-images-worker@.service", "scp-images.target"} <= names
    done = subprocess.run(
        [analyze, "verify", "--man=no", *map(str, units)], capture_output=True, text=True, timeout=120
    )
    # Unknown keys and bad values are only warnings (exit 0): any output at all is a finding.
    assert (done.returncode, done.stdout + done.stderr) == (0, "")


def test_a_typo_in_a_unit_is_caught(tmp_path: Path) -> None:
    """The check above can fail: systemd-analyze reports a misspelt key."""
    analyze = require_tool("systemd-analyze", hint="install systemd (Debian's systemd package)")
    units = _units_with_this_machines_binary(tmp_path)
    (serve,) = [u for u in units if u.name.startswith("scp-images-serve")]
    serve.write_text(serve.read_text().replace("RestartSec=", "RestartSecs="))
    done = subprocess.run([analyze, "verify", "--man=no", str(serve)], capture_output=True, text=True)
    assert "RestartSecs" in done.stdout + done.stderr


def _self_signed(folder: Path) -> tuple[Path, Path]:
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "virtualserver.kr-west1.e.example.com")])
    now = datetime.datetime.now(datetime.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now)
        .not_valid_after(now + datetime.timedelta(days=1))
        .sign(key, hashes.SHA256())
    )
    cert_path, key_path = folder / "cert.pem", folder / "key.pem"
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
        )
    )
    return cert_path, key_path


def _nginx_test(nginx: str, folder: Path, http_block: str) -> subprocess.CompletedProcess[str]:
    for name in ("logs", "temp"):
        (folder / name).mkdir(exist_ok=True)
    conf = folder / "nginx.conf"
    conf.write_text(
        f"pid {folder / 'nginx.pid'};\nerror_log {folder / 'logs' / 'error.log'};\nevents {{}}\n"
        f"http {{\n    client_body_temp_path {folder / 'temp'};\n{http_block}\n}}\n"
    )
    command = [nginx, "-t", "-p", str(folder), "-e", str(folder / "logs" / "error.log"), "-c", str(conf)]
    return subprocess.run(command, capture_output=True, text=True, timeout=60)


def test_the_tls_site_file_is_valid_nginx(tmp_path: Path) -> None:
    """deploy/nginx/scp-images.conf with its include and certificate paths pointed at this checkout."""
    nginx = require_tool("nginx", hint="install Debian's nginx (apt-get install nginx; .ci/run does)")
    cert, key = _self_signed(tmp_path)
    site = (DEPLOY / "scp-images.conf").read_text()
    installed = {
        "/etc/nginx/scp-images/upstream.conf": str(UPSTREAM_CONF),
        "/etc/nginx/scp-images/proxy.conf": str(PROXY_CONF),
        "/etc/ssl/certs/virtualserver.kr-west1.e.example.com.pem": str(cert),
        "/etc/ssl/private/virtualserver.kr-west1.e.example.com.key": str(key),
    }
    for written, here in installed.items():
        assert written in site, f"scp-images.conf no longer names {written}"
        site = site.replace(written, here)
    done = _nginx_test(nginx, tmp_path, site)
    assert done.returncode == 0, done.stderr


def test_the_upstream_list_is_filled_in_with_the_documented_options() -> None:
    block = upstream_block(["127.0.0.1:1", "127.0.0.1:2"])
    assert "server 127.0.0.1:1 max_fails=1 fail_timeout=5s;" in block
    assert "server 127.0.0.1:2 max_fails=1 fail_timeout=5s;" in block
    assert "8081" not in block and "keepalive 64;" in block
    with pytest.raises(ValueError):
        upstream_block(["127.0.0.1:1"], template="upstream other { server 127.0.0.1:9; }\n")


def test_the_environment_example_names_only_real_settings() -> None:
    """Every SCP_IMAGES_ variable in the example file is a setting the service reads."""
    from scp_images.config import Settings

    known = {f"SCP_IMAGES_{name.upper()}" for name in Settings.model_fields}
    lines = (REPOSITORY / "deploy" / "scp-images.env.example").read_text().splitlines()
    named = {line.lstrip("#").split("=", 1)[0] for line in lines if "=" in line and "SCP_IMAGES_" in line}
    assert named and named <= known, named - known
