"""CURVE key pairs and certificate files, and the CURVE settings of a client and a server.

Keys are Z85 text (40 characters for 32 bytes), as libzmq takes them. Certificates use the
ZPL layout that ``zmq.auth`` reads and writes, so files interoperate with other ZeroMQ tools:
``NAME`` holds the public key only and may be shared; ``NAME_secret`` holds both keys and is
created with mode 0600 (through ``os.open``, never loosened by a later chmod), written to a
temporary file in the same directory and renamed into place, so it is never seen half written
or with wider permissions. Secret keys never appear in a ``repr``, a log line or an error.

Certificates are read by ``zmq.auth.load_certificate`` (the keys it finds are then checked
here, and its errors turned into :class:`~sessionkit.ConfigError` naming the file). They are
written here rather than by ``zmq.auth.create_certificates``, which makes a new key pair of
its own (it cannot save a given one), names the files ``NAME.key``/``NAME.key_secret``, and
creates the secret file with the process's umask (0644 usually), in place and replacing any
file of that name.
"""

from __future__ import annotations

import logging
import os
import secrets
import stat
from collections.abc import Iterable
from pathlib import Path
from typing import Union

import attrs
import zmq
import zmq.auth
import zmq.utils.z85

from sessionkit import ConfigError

__all__ = [
    "KeyPair",
    "CurveClient",
    "CurveServer",
    "load_public_key",
    "fingerprint",
    "SECRET_SUFFIX",
]

logger = logging.getLogger(__name__)

#: the secret certificate of ``NAME`` is ``NAME`` + this suffix (the ``zmq.auth`` convention)
SECRET_SUFFIX = "_secret"

KeySource = Union[bytes, str, "os.PathLike[str]"]


def _check_key(key: object, what: str) -> bytes:
    """A Z85 CURVE key as bytes, or a ConfigError naming ``what`` and the problem."""
    if isinstance(key, str):
        key = key.encode("ascii", "replace")
    if not isinstance(key, bytes):
        raise ConfigError(f"{what} must be a 40-character Z85 CURVE key, got "
                          f"{type(key).__name__}")
    if len(key) != 40:
        raise ConfigError(f"{what} must be a 40-character Z85 CURVE key, got {len(key)} "
                          f"characters")
    try:
        raw = zmq.utils.z85.decode(key)
    except (ValueError, KeyError, IndexError):
        raise ConfigError(f"{what} is not valid Z85 text") from None
    if len(raw) != 32:  # pragma: no cover - 40 Z85 characters always decode to 32 bytes
        raise ConfigError(f"{what} does not decode to 32 bytes")
    return key


def fingerprint(public_key: bytes) -> str:
    """A short, loggable name for a public key (its first 8 Z85 characters)."""
    return public_key[:8].decode("ascii", "replace") + "..."


@attrs.frozen(kw_only=True)
class KeyPair:
    """A CURVE key pair (Z85 text). ``secret`` is None for a public-key-only certificate.

    >>> kp = KeyPair.generate()
    >>> len(kp.public), kp.has_secret
    (40, True)
    >>> "secret" in repr(kp) and kp.secret.decode() not in repr(kp)
    True
    """

    public: bytes = attrs.field(repr=lambda k: repr(fingerprint(k)))
    secret: bytes | None = attrs.field(default=None, repr=lambda s: "<hidden>" if s else "None")

    @public.validator
    def _check_public(self, attribute: attrs.Attribute[bytes], value: bytes) -> None:
        _check_key(value, "KeyPair.public")

    @secret.validator
    def _check_secret(self, attribute: attrs.Attribute[bytes | None], value: bytes | None) -> None:
        if value is None:
            return
        _check_key(value, "KeyPair.secret")
        if zmq.curve_public(value) != self.public:
            raise ConfigError("KeyPair.secret does not belong to KeyPair.public")

    @property
    def has_secret(self) -> bool:
        return self.secret is not None

    @classmethod
    def generate(cls) -> KeyPair:
        """A fresh key pair from libzmq's CSPRNG."""
        public, secret = zmq.curve_keypair()
        return cls(public=public, secret=secret)

    @classmethod
    def from_secret(cls, secret: bytes | str) -> KeyPair:
        """The key pair of a Z85 secret key (the public key is derived from it)."""
        secret_b = _check_key(secret, "the secret key")
        return cls(public=zmq.curve_public(secret_b), secret=secret_b)

    def public_only(self) -> KeyPair:
        return KeyPair(public=self.public)

    # -- certificate files ----------------------------------------------------------

    def save_certificate(self, path: str | os.PathLike[str], *, overwrite: bool = False,
                         ) -> tuple[Path, Path | None]:
        """Write ``path`` (public key, readable) and ``path``\\ _secret (both keys, mode 0600).

        Returns the two paths (the second is None for a public-only pair). Refuses to replace
        existing files unless ``overwrite``.
        """
        public_path = Path(path)
        secret_path = public_path.with_name(public_path.name + SECRET_SUFFIX)
        if not overwrite:
            for p in (public_path, secret_path) if self.secret else (public_path,):
                if p.exists():
                    raise FileExistsError(f"{p} exists; pass overwrite=True to replace it")
        if self.secret is not None:
            _write_atomic(secret_path, _certificate_text(self.public, self.secret), 0o600,
                          overwrite)
        _write_atomic(public_path, _certificate_text(self.public, None), 0o644, overwrite)
        return public_path, (secret_path if self.secret is not None else None)

    @classmethod
    def load_certificate(cls, path: str | os.PathLike[str]) -> KeyPair:
        """Read a certificate written by :meth:`save_certificate` (or by ``zmq.auth``).

        A secret certificate gives a full pair, a public one a public-only pair. A secret
        file that others can read is loaded with a warning naming the file and its mode.
        """
        p = Path(path)
        try:
            st = p.stat()
            public, secret = zmq.auth.load_certificate(p)
        except OSError as exc:
            raise ConfigError(f"cannot read CURVE certificate {p}: "
                              f"{exc.strerror or exc}") from None
        except ValueError:  # zmq.auth's "No public key found in ..."
            raise ConfigError(f"CURVE certificate {p} has no public-key line") from None
        except IndexError:  # zmq.auth on a "public-key" or "secret-key" line without "="
            raise ConfigError(f"CURVE certificate {p} has a public-key or secret-key line "
                              f"without '= \"KEY\"'") from None
        _check_key(public, f"the public-key in {p}")
        if secret is not None:
            _check_key(secret, f"the secret-key in {p}")
        if secret is not None and st.st_mode & 0o077:
            logger.warning("CURVE secret certificate %s has mode %s: others can read it; "
                           "it should be 0600", p, oct(stat.S_IMODE(st.st_mode)))
        return cls(public=public, secret=secret)


def _certificate_text(public: bytes, secret: bytes | None) -> bytes:
    kind = "secret" if secret is not None else "public"
    lines = [
        f"#   sessionkit-zmq CURVE {kind} certificate",
        "#   keep this file private: it holds the secret key" if secret is not None
        else "#   this file holds a public key only and may be shared",
        "",
        "metadata",
        "curve",
        f'    public-key = "{public.decode("ascii")}"',
    ]
    if secret is not None:
        lines.append(f'    secret-key = "{secret.decode("ascii")}"')
    return ("\n".join(lines) + "\n").encode("ascii")


def _write_atomic(path: Path, data: bytes, mode: int, overwrite: bool) -> None:
    """Write ``data`` to ``path`` created with ``mode`` (never widened), all or nothing."""
    tmp = path.with_name(f".{path.name}.{secrets.token_hex(6)}.tmp")
    flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_CLOEXEC", 0) \
        | getattr(os, "O_NOFOLLOW", 0)
    fd = os.open(tmp, flags, mode)
    try:
        try:
            view = memoryview(data)
            while view:
                view = view[os.write(fd, view):]
            os.fsync(fd)
        finally:
            os.close(fd)
        if overwrite:
            os.replace(tmp, path)
        else:
            os.link(tmp, path)  # fails with FileExistsError rather than replace a file
            os.unlink(tmp)
    except BaseException:
        try:
            os.unlink(tmp)
        except FileNotFoundError:
            pass
        raise
    _fsync_dir(path.parent)


def _fsync_dir(directory: Path) -> None:
    try:
        fd = os.open(directory, os.O_RDONLY)
    except OSError:  # pragma: no cover - platforms without directory fds
        return
    try:
        os.fsync(fd)
    except OSError:  # pragma: no cover
        pass
    finally:
        os.close(fd)


def load_public_key(source: KeySource, what: str = "public key") -> bytes:
    """A Z85 public key from the key itself (40 characters) or from a certificate file."""
    if isinstance(source, (bytes, str)) and len(source) == 40 and not Path(
            os.fsdecode(source)).exists():
        return _check_key(source, what)
    if isinstance(source, bytes):
        source = os.fsdecode(source)
    return KeyPair.load_certificate(source).public


def _server_key(key: bytes | str) -> bytes:
    return _check_key(key, "CurveClient.server_key")


@attrs.frozen(kw_only=True)
class CurveClient:
    """CURVE settings of a client: its own key pair and the server's public key."""

    keypair: KeyPair
    server_key: bytes = attrs.field(converter=_server_key, repr=lambda k: repr(fingerprint(k)))

    def __attrs_post_init__(self) -> None:
        if not isinstance(self.keypair, KeyPair) or not self.keypair.has_secret:
            raise ConfigError("CurveClient.keypair must be a KeyPair with its secret key")

    @classmethod
    def from_files(cls, client_certificate: str | os.PathLike[str],
                   server_key: KeySource) -> CurveClient:
        """From the client's secret certificate and the server's key or public certificate."""
        keypair = KeyPair.load_certificate(client_certificate)
        if not keypair.has_secret:
            raise ConfigError(f"{client_certificate} is a public certificate; the client needs "
                              f"its secret certificate (the {SECRET_SUFFIX} file)")
        return cls(keypair=keypair, server_key=load_public_key(server_key, "the server key"))


def _key_set(keys: Iterable[bytes | str]) -> frozenset[bytes]:
    return frozenset(_check_key(k, "a CurveServer.allow key") for k in keys)


@attrs.frozen(kw_only=True)
class CurveServer:
    """CURVE settings of a server: its key pair and the client public keys it lets in.

    An empty allow-list is refused unless ``allow_any`` says, explicitly, that any client
    key is welcome (the connection is still encrypted, but anyone can open one).

    >>> CurveServer(keypair=KeyPair.generate())  # doctest: +ELLIPSIS
    Traceback (most recent call last):
    ...
    sessionkit._errors.ConfigError: CurveServer needs an allow-list ..., or allow_any=True ...
    """

    keypair: KeyPair
    allow: frozenset[bytes] = attrs.field(default=frozenset(), converter=_key_set,
                                          repr=lambda ks: f"<{len(ks)} keys>")
    allow_any: bool = False

    def __attrs_post_init__(self) -> None:
        if not isinstance(self.keypair, KeyPair) or not self.keypair.has_secret:
            raise ConfigError("CurveServer.keypair must be a KeyPair with its secret key")
        if not self.allow and not self.allow_any:
            raise ConfigError("CurveServer needs an allow-list of client public keys "
                              "(allow=...), or allow_any=True to let any client key in")

    def allows(self, public_key: bytes) -> bool:
        return self.allow_any or public_key in self.allow

    @classmethod
    def from_files(cls, server_certificate: str | os.PathLike[str],
                   allow: Iterable[KeySource] = (), *, allow_any: bool = False) -> CurveServer:
        keypair = KeyPair.load_certificate(server_certificate)
        if not keypair.has_secret:
            raise ConfigError(f"{server_certificate} is a public certificate; the server needs "
                              f"its secret certificate (the {SECRET_SUFFIX} file)")
        return cls(keypair=keypair,
                   allow=[load_public_key(a, "an allowed client key") for a in allow],
                   allow_any=allow_any)
