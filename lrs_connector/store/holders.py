"""Credential holders: sources (LRSs and emitters that send statements) and API tokens (people
and tools using the admin API). Both tables have the same shape; one class serves both."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from lrs_connector import credentials
from lrs_connector.store.tables import api_tokens, sources

ROLES = ("admin", "auditor")


class HolderError(ValueError):
    """A name is taken, unknown, or a value is not allowed."""


@dataclass(frozen=True, slots=True)
class Holder:
    id: int
    name: str
    key: str
    enabled: bool
    created_at: datetime
    rotated_at: datetime | None
    role: str | None = None
    description: str = ""

    def as_dict(self) -> dict:
        out = {
            "id": self.id,
            "name": self.name,
            "key": self.key,
            "enabled": self.enabled,
            "created_at": self.created_at.isoformat(),
            "rotated_at": self.rotated_at.isoformat() if self.rotated_at else None,
        }
        if self.role is not None:
            out["role"] = self.role
        else:
            out["description"] = self.description
        return out


class Holders:
    """Add, list, disable, enable, rotate and look up holders of one kind."""

    def __init__(self, table: sa.Table, kind: str) -> None:
        self.table = table
        self.kind = kind

    def _holder(self, row) -> Holder:
        m = row._mapping
        return Holder(
            id=m["id"],
            name=m["name"],
            key=m["key"],
            enabled=m["enabled"],
            created_at=m["created_at"],
            rotated_at=m["rotated_at"],
            role=m.get("role"),
            description=m.get("description", ""),
        )

    def add(self, conn: Connection, name: str, **extra) -> tuple[Holder, credentials.NewCredential]:
        name = name.strip()
        if not name or len(name) > 100:
            raise HolderError("name must be 1 to 100 characters")
        if conn.execute(sa.select(self.table.c.id).where(self.table.c.name == name)).first():
            raise HolderError(f"a {self.kind} named {name!r} already exists")
        if "role" in extra and extra["role"] not in ROLES:
            raise HolderError(f"role must be one of {', '.join(ROLES)}, got {extra['role']!r}")
        new = credentials.generate(self.kind)
        conn.execute(
            self.table.insert().values(
                name=name,
                key=new.key,
                secret_hash=new.secret_hash,
                enabled=True,
                created_at=datetime.now(UTC),
                **extra,
            )
        )
        return self.get(conn, name), new

    def get(self, conn: Connection, name_or_key: str) -> Holder:
        row = conn.execute(
            sa.select(self.table).where(
                sa.or_(self.table.c.name == name_or_key, self.table.c.key == name_or_key)
            )
        ).first()
        if row is None:
            raise HolderError(f"no {self.kind} named {name_or_key!r}")
        return self._holder(row)

    def list(self, conn: Connection) -> list[Holder]:
        rows = conn.execute(sa.select(self.table).order_by(self.table.c.name))
        return [self._holder(r) for r in rows]

    def page(self, conn: Connection, *, after: str = "", limit: int = 100) -> list[Holder]:
        """Keyset page in name order: pass the last name seen as `after`."""
        rows = conn.execute(
            sa.select(self.table)
            .where(self.table.c.name > after)
            .order_by(self.table.c.name)
            .limit(limit)
        )
        return [self._holder(r) for r in rows]

    def set_enabled(self, conn: Connection, name_or_key: str, enabled: bool) -> Holder:
        holder = self.get(conn, name_or_key)
        conn.execute(
            self.table.update().where(self.table.c.id == holder.id).values(enabled=enabled)
        )
        return self.get(conn, holder.name)

    def rotate(
        self, conn: Connection, name_or_key: str
    ) -> tuple[Holder, credentials.NewCredential]:
        """A new secret under the same key; the old secret stops working at once."""
        holder = self.get(conn, name_or_key)
        new = credentials.generate(self.kind)
        conn.execute(
            self.table.update()
            .where(self.table.c.id == holder.id)
            .values(secret_hash=new.secret_hash, rotated_at=datetime.now(UTC))
        )
        return self.get(conn, holder.name), credentials.NewCredential(
            key=holder.key, secret=new.secret, secret_hash=new.secret_hash
        )

    def authenticate(self, conn: Connection, presented: credentials.Presented) -> Holder | None:
        """The enabled holder whose key and secret match, else None."""
        row = conn.execute(sa.select(self.table).where(self.table.c.key == presented.key)).first()
        if row is None or not row._mapping["enabled"]:
            return None
        if not credentials.verify_secret(presented.secret, row._mapping["secret_hash"]):
            return None
        return self._holder(row)


SOURCES = Holders(sources, "source")
TOKENS = Holders(api_tokens, "token")
