"""CURVE key pairs and certificate files."""

from __future__ import annotations

import logging
import os
import stat
from pathlib import Path

import pytest
import zmq.auth
from sessionkit_zmq import CurveClient, CurveServer, KeyPair, load_public_key

from sessionkit import ConfigError


def _mode(p: Path) -> int:
    return stat.S_IMODE(p.stat().st_mode)


def test_save_and_load_round_trip(tmp_path: Path) -> None:
    kp = KeyPair.generate()
    public, secret = kp.save_certificate(tmp_path / "client.key")
    assert secret == tmp_path / "client.key_secret"
    assert KeyPair.load_certificate(secret) == kp
    assert KeyPair.load_certificate(public) == kp.public_only()
    assert load_public_key(public) == kp.public
    assert load_public_key(kp.public) == kp.public
    # the files are the zmq.auth format: other ZeroMQ tools read them
    assert zmq.auth.load_certificate(str(secret)) == (kp.public, kp.secret)
    assert zmq.auth.load_certificate(str(public)) == (kp.public, None)


def test_certificates_zmq_auth_made_are_read(tmp_path: Path) -> None:
    public, secret = zmq.auth.create_certificates(tmp_path, "server")
    keypair = KeyPair.load_certificate(secret)
    assert keypair.has_secret and zmq.curve_public(keypair.secret) == keypair.public
    assert KeyPair.load_certificate(public) == keypair.public_only()
    # what a server is configured from: its secret certificate and a client's public one
    client_public, _ = KeyPair.generate().save_certificate(tmp_path / "client")
    server = CurveServer.from_files(secret, allow=[client_public])
    assert server.keypair == keypair and len(server.allow) == 1


def test_secret_file_is_0600_even_with_an_open_umask(tmp_path: Path) -> None:
    old = os.umask(0)
    try:
        public, secret = KeyPair.generate().save_certificate(tmp_path / "k")
    finally:
        os.umask(old)
    assert secret is not None
    assert _mode(secret) == 0o600
    assert _mode(public) == 0o644
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".")]  # no temp files left


def test_secret_file_is_never_wider_while_written(tmp_path: Path, monkeypatch: pytest.MonkeyPatch
                                                  ) -> None:
    """Created with mode 0600 by os.open itself: no chmod afterwards, no window."""
    seen = []
    real_open = os.open

    def spy(path: str, flags: int, mode: int = 0o777, *a: object, **kw: object) -> int:
        seen.append((os.path.basename(path), mode, bool(flags & os.O_EXCL)))
        return real_open(path, flags, mode, *a, **kw)  # type: ignore[arg-type]

    monkeypatch.setattr(os, "open", spy)
    monkeypatch.setattr(os, "chmod", lambda *a, **k: pytest.fail("chmod called"))
    KeyPair.generate().save_certificate(tmp_path / "k")
    created = [s for s in seen if s[2]]
    assert [m for name, m, _ in created if "secret" in name] == [0o600]


def test_existing_files_are_kept_unless_overwrite(tmp_path: Path) -> None:
    kp = KeyPair.generate()
    kp.save_certificate(tmp_path / "k")
    other = KeyPair.generate()
    with pytest.raises(FileExistsError, match="overwrite=True"):
        other.save_certificate(tmp_path / "k")
    assert KeyPair.load_certificate(tmp_path / "k_secret") == kp
    other.save_certificate(tmp_path / "k", overwrite=True)
    assert KeyPair.load_certificate(tmp_path / "k_secret") == other
    assert _mode(tmp_path / "k_secret") == 0o600


def test_bad_certificates_name_the_problem(tmp_path: Path) -> None:
    p = tmp_path / "bad.key"
    p.write_text("curve\n    secret-key = \"abc\"\n")
    with pytest.raises(ConfigError, match="no public-key line"):
        KeyPair.load_certificate(p)
    p.write_text('curve\n    public-key = "tooshort"\n')
    with pytest.raises(ConfigError, match="40-character"):
        KeyPair.load_certificate(p)
    with pytest.raises(ConfigError, match="cannot read"):
        KeyPair.load_certificate(tmp_path / "missing.key")
    with pytest.raises(ConfigError, match="cannot read"):
        KeyPair.load_certificate(tmp_path)  # a directory
    p.write_text("curve\n    public-key\n")
    with pytest.raises(ConfigError, match="bad.key has a public-key or secret-key line without"):
        KeyPair.load_certificate(p)
    kp = KeyPair.generate()
    p.write_text(f'curve\n    public-key = "{kp.public.decode()}"\n    secret-key = "x"\n')
    with pytest.raises(ConfigError, match="the secret-key in .*bad.key must be a 40-character"):
        KeyPair.load_certificate(p)
    a, b = KeyPair.generate(), KeyPair.generate()
    with pytest.raises(ConfigError, match="does not belong"):
        KeyPair(public=a.public, secret=b.secret)


def test_a_secret_file_others_can_read_is_warned_about(tmp_path: Path,
                                                       caplog: pytest.LogCaptureFixture) -> None:
    kp = KeyPair.generate()
    _, secret = kp.save_certificate(tmp_path / "k")
    assert secret is not None
    os.chmod(secret, 0o644)
    with caplog.at_level(logging.WARNING):
        assert KeyPair.load_certificate(secret) == kp
    assert "0o644" in caplog.text and "k_secret" in caplog.text
    assert kp.secret is not None and kp.secret.decode() not in caplog.text


def test_secret_keys_stay_out_of_reprs() -> None:
    kp = KeyPair.generate()
    assert kp.secret is not None
    server = CurveServer(keypair=kp, allow_any=True)
    client = CurveClient(keypair=kp, server_key=kp.public)
    for r in (repr(kp), repr(server), repr(client), str(kp)):
        assert kp.secret.decode() not in r


def test_curve_settings_are_checked(tmp_path: Path) -> None:
    kp = KeyPair.generate()
    with pytest.raises(ConfigError, match="allow-list"):
        CurveServer(keypair=kp)
    with pytest.raises(ConfigError, match="secret key"):
        CurveServer(keypair=kp.public_only(), allow_any=True)
    with pytest.raises(ConfigError, match="secret key"):
        CurveClient(keypair=kp.public_only(), server_key=kp.public)
    with pytest.raises(ConfigError, match="server_key"):
        CurveClient(keypair=kp, server_key=b"nope")
    public, _ = kp.save_certificate(tmp_path / "k")
    with pytest.raises(ConfigError, match="public certificate"):
        CurveClient.from_files(public, kp.public)
    with pytest.raises(ConfigError, match="public certificate"):
        CurveServer.from_files(public, allow_any=True)
    assert CurveServer(keypair=kp, allow=[kp.public]).allows(kp.public)
    assert not CurveServer(keypair=kp, allow=[kp.public]).allows(KeyPair.generate().public)
