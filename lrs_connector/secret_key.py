"""The installation's secret key: it signs the web consoles' session cookies and the learner
page links. From the `secret_key` setting when there is one, else from a file in data_dir that
the first process to need it creates (every process and the CLI on this machine then agree).
Several machines sharing one database must share the key through the setting.
"""

from __future__ import annotations

import contextlib
import os
import secrets
from pathlib import Path

from lrs_connector.settings import Settings

FILE_NAME = "secret_key"
MIN_LENGTH = 32


class SecretKeyError(RuntimeError):
    """The key file cannot be read or written, or the configured key is too short."""


def secret_key(settings: Settings) -> str:
    """The configured key, else the data_dir file's (created on first use)."""
    configured = getattr(settings, "secret_key", "") or ""
    if configured:
        if len(configured) < MIN_LENGTH:
            raise SecretKeyError(f"secret_key must be at least {MIN_LENGTH} characters long")
        return configured
    return _from_file(Path(settings.resolved_data_dir) / FILE_NAME)


def _from_file(path: Path) -> str:
    try:
        found = path.read_text(encoding="ascii").strip()
    except FileNotFoundError:
        found = ""
    except (OSError, UnicodeDecodeError) as exc:
        raise SecretKeyError(
            f"cannot read the secret key file {path}: {getattr(exc, 'strerror', None) or exc}"
        ) from None
    if len(found) >= MIN_LENGTH:
        return found
    path.parent.mkdir(parents=True, exist_ok=True)
    fresh = secrets.token_urlsafe(48)
    temporary = path.with_name(f".{FILE_NAME}.{os.getpid()}.{secrets.token_hex(4)}")
    try:
        fd = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "w", encoding="ascii") as handle:
            handle.write(fresh + "\n")
        with contextlib.suppress(FileExistsError):  # another process won the race: use theirs
            os.link(temporary, path)
    except OSError as exc:
        raise SecretKeyError(
            f"cannot create the secret key file {path}: {exc.strerror or exc}"
        ) from None
    finally:
        temporary.unlink(missing_ok=True)
    return path.read_text(encoding="ascii").strip()
