"""What intake stores beside the statement: one `stored` instant per request, and the indexed
timestamp column written exactly as SQLAlchemy's Timestamp type writes it."""

from __future__ import annotations

from datetime import UTC, datetime

import orjson
import sqlalchemy as sa

from lrs_connector.store import database
from lrs_connector.store import statements as store
from lrs_connector.store.tables import statements
from lrs_connector.xapi.records import format_instant, parse_timestamp
from tests.builders import statement


def _post(client, headers, body):
    return client.post("/xapi/statements", data=orjson.dumps(body), headers=headers)


def test_the_statements_of_one_request_share_one_stored_instant(client, source_headers, engine):
    batch = [statement(timestamp=None) for _ in range(3)]
    assert _post(client, source_headers, batch).status_code == 200
    with database.read(engine) as conn:
        found = store.find(conn, [s["id"] for s in batch])
    stamps = {found[s["id"]].statement["stored"] for s in batch}
    assert len(stamps) == 1
    # A statement without a timestamp gets its stored instant as timestamp.
    assert {found[s["id"]].statement["timestamp"] for s in batch} == stamps


def test_a_later_request_gets_a_later_stored_instant(client, source_headers, engine):
    first, second = statement(), statement()
    _post(client, source_headers, first)
    _post(client, source_headers, second)
    with database.read(engine) as conn:
        found = store.find(conn, [first["id"], second["id"]])
    assert found[first["id"]].statement["stored"] <= found[second["id"]].statement["stored"]


def test_timestamp_column_holds_what_the_timestamp_type_writes(client, source_headers, engine):
    """Driver-level inserts must write what SQLAlchemy would, years before 1000 included
    (zero-padded, so the text sorts like the instant), and read back as the same instant."""
    early = statement(timestamp="0999-03-04T05:06:07.123456Z")
    late = statement(timestamp="2026-11-20T10:00:00.5+02:00")
    assert _post(client, source_headers, [early, late]).status_code == 200
    with database.read(engine) as conn:
        read_back = dict(
            conn.execute(sa.select(statements.c.id, statements.c.timestamp)).all()
        )
        if conn.dialect.name == "sqlite":
            raw = dict(conn.exec_driver_sql("SELECT id, timestamp FROM statements").all())
            assert raw[early["id"]] == "0999-03-04 05:06:07.123456"
            assert raw[late["id"]] == "2026-11-20 08:00:00.500000"
    assert read_back[early["id"]] == datetime(999, 3, 4, 5, 6, 7, 123456, tzinfo=UTC)
    assert read_back[late["id"]] == parse_timestamp(late["timestamp"])


def test_format_instant_is_utc_with_milliseconds():
    moment = datetime(2026, 11, 20, 10, 0, 0, 123456, tzinfo=UTC)
    assert format_instant(moment) == "2026-11-20T10:00:00.123Z"
    assert format_instant(moment) == "2026-11-20T10:00:00.123Z"  # memoised: same answer
