"""marshmallow schemas of the admin API: what each operation takes (path, query, body) and
answers. web/params.py loads requests through them; web/openapi.py publishes them.

Request schemas refuse unknown names. Answer schemas list the fields clients rely on and leave
room for more (documents such as a readiness report are described by their main fields).
"""

from __future__ import annotations

from marshmallow import EXCLUDE, Schema, ValidationError, fields, validate

from lrs_connector.frameworks import case, documents
from lrs_connector.frameworks.formats import FORMATS
from lrs_connector.store import quarantine
from lrs_connector.web.params import QueryBoolean, StrictBoolean, StrictSchema

MAX_ID = 2**63 - 1
MAX_VERSION = 999_999_999
MAX_STATEMENTS = 500
UUID = r"^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$"


def _id(**kwargs) -> fields.Integer:
    return fields.Integer(strict=True, validate=validate.Range(1, MAX_ID), **kwargs)


def _query_id(name: str) -> fields.Integer:
    """An id in the path or query (text that must read as an integer)."""
    return fields.Integer(
        required=True, validate=validate.Range(1, MAX_ID), metadata={"description": name}
    )


class Answer(Schema):
    """Answers may carry fields not listed here."""

    class Meta:
        unknown = EXCLUDE


class Error(Answer):
    class Detail(Answer):
        code = fields.String(required=True, metadata={"description": "stable, for programs"})
        message = fields.String(required=True, metadata={"description": "for people"})
        field = fields.String(
            metadata={"description": "where: query.NAME, path.NAME or body.PATH"}
        )
        problems = fields.List(fields.Dict(), metadata={"description": "every problem found"})

    error = fields.Nested(Detail, required=True)


# -- pages ----------------------------------------------------------------------------------


def _limit(default: int, maximum: int) -> fields.Integer:
    return fields.Integer(
        load_default=default,
        validate=validate.Range(1, maximum),
        metadata={"description": f"items per page (1 to {maximum}, default {default})"},
    )


class PageQuery(StrictSchema):
    """Every list: ?limit=N&cursor=C (the cursor from the previous answer's next_cursor)."""

    limit = _limit(100, 500)
    cursor = fields.String(
        validate=validate.Length(1, 512),
        metadata={"description": "next_cursor from the previous page"},
    )


class Page(Answer):
    next_cursor = fields.String(
        required=True, allow_none=True, metadata={"description": "null on the last page"}
    )
    next = fields.String(
        required=True,
        allow_none=True,
        metadata={"description": "the next page's path and query; null on the last page"},
    )


# -- sources and quarantine -----------------------------------------------------------------


SourcesQuery = FrameworksQuery = VersionsQuery = PageQuery


class Source(Answer):
    id = fields.Integer(required=True)
    name = fields.String(required=True)
    key = fields.String(required=True)
    enabled = fields.Boolean(required=True)
    created_at = fields.String(required=True)
    rotated_at = fields.String(required=True, allow_none=True)
    description = fields.String(required=True)


class NewSource(Source):
    secret = fields.String(required=True, metadata={"description": "shown in this answer only"})
    bearer_token = fields.String(required=True, metadata={"description": "key.secret"})


class SourcePage(Page):
    sources = fields.List(fields.Nested(Source), required=True)


class NewSourceBody(StrictSchema):
    name = fields.String(required=True, validate=validate.Length(1, 100))
    description = fields.String(load_default="", validate=validate.Length(0, 1000))


class SourcePath(StrictSchema):
    name = fields.String(required=True, validate=validate.Length(1, 200))


class ToggleSourcePath(SourcePath):
    action = fields.String(required=True, validate=validate.OneOf(["enable", "disable"]))


class PullSourcesQuery(PageQuery):
    failing = fields.Boolean(load_default=None, metadata={
        "description": "true: only the sources whose latest attempt failed; false: the others"})


class PullSource(Answer):
    """A pull source's set-up and latest outcomes (never its credentials)."""

    name = fields.String(required=True)
    endpoint = fields.String(required=True, metadata={"description": "the LRS's xAPI base URL"})
    xapi_version = fields.String(required=True)
    enabled = fields.Boolean(required=True)
    interval_seconds = fields.Float(required=True)
    timeout_seconds = fields.Float(required=True)
    lookback_seconds = fields.Float(required=True)
    page_size = fields.Integer(required=True)
    filters = fields.Dict(required=True, metadata={"description": "sent to the LRS as query "
                                                                  "parameters"})
    source_name = fields.String(
        required=True, allow_none=True,
        metadata={"description": "the source pulled statements are attributed to"},
    )
    created_at = fields.String(required=True)
    cursor_stored = fields.String(
        required=True, allow_none=True,
        metadata={"description": "newest `stored` of the last complete pull"},
    )
    last_attempt_at = fields.String(required=True, allow_none=True)
    last_success_at = fields.String(required=True, allow_none=True)
    last_error = fields.String(
        required=True, allow_none=True,
        metadata={"description": "the latest failure (kept after a success), as reported by "
                                 "the LRS or the network; at most 1,000 characters"},
    )
    last_error_at = fields.String(required=True, allow_none=True)
    failures = fields.Integer(required=True, metadata={"description": "failed attempts in a row"})
    failing = fields.Boolean(required=True, metadata={"description": "the latest attempt "
                                                                     "failed"})
    next_attempt_at = fields.String(required=True, allow_none=True)
    pulled_total = fields.Integer(required=True)
    resuming = fields.Boolean(required=True, metadata={"description": "a pull stopped mid-way "
                                                                      "and resumes"})
    pulling = fields.Boolean(required=True, metadata={"description": "a process holds the "
                                                                     "lease now"})


class PullSourcePage(Page):
    pull_sources = fields.List(fields.Nested(PullSource), required=True)


class PullSourcePath(StrictSchema):
    name = fields.String(required=True, validate=validate.Length(1, 100))


class QuarantineQuery(PageQuery):
    status = fields.String(
        load_default="held", validate=validate.OneOf([*quarantine.STATUSES, "all"])
    )
    limit = _limit(50, 500)


class Held(Answer):
    id = fields.Integer(required=True)
    source_id = fields.Integer(required=True, allow_none=True)
    statement_id = fields.String(required=True, allow_none=True)
    problems = fields.List(fields.Dict(), required=True)
    received_at = fields.String(required=True)
    last_received_at = fields.String(required=True)
    occurrences = fields.Integer(required=True)
    status = fields.String(required=True, validate=validate.OneOf(quarantine.STATUSES))
    resolved_at = fields.String(required=True, allow_none=True)
    resolution = fields.String(required=True, allow_none=True)
    statement = fields.Raw(required=True, metadata={"description": "the body as received"})


class QuarantinePage(Page):
    items = fields.List(fields.Nested(Held), required=True)


class HeldPath(StrictSchema):
    held_id = fields.Integer(required=True, validate=validate.Range(1, 2**31 - 1),
                             metadata={"description": "quarantine id"})


class ReadmitBody(StrictSchema):
    statement = fields.Dict(metadata={"description": "a corrected copy of the statement"})
    normalisations = fields.List(
        fields.String(validate=validate.Length(1, 100)),
        validate=validate.Length(0, 20),
        metadata={"description": "names of normalisations (default: the configured ones)"},
    )


class Readmitted(Answer):
    id = fields.Integer(required=True)
    status = fields.String(required=True)
    statement_id = fields.String(required=True)


class DiscardBody(StrictSchema):
    reason = fields.String(load_default="", validate=validate.Length(0, 1000))


class Discarded(Answer):
    id = fields.Integer(required=True)
    status = fields.String(required=True)


# -- profiles -------------------------------------------------------------------------------


class Statements(fields.Field):
    """One statement object or an array of 1 to MAX_STATEMENTS of them (always a list after)."""

    def __init__(self, *, allow_empty: bool = False, **kwargs) -> None:
        self.allow_empty = allow_empty
        low = 0 if allow_empty else 1
        metadata = {
            "oneOf": [
                {"type": "object"},
                {
                    "type": "array",
                    "items": {"type": "object"},
                    "minItems": low,
                    "maxItems": MAX_STATEMENTS,
                },
            ]
        }
        super().__init__(metadata=metadata, **kwargs)

    def _deserialize(self, value, attr, data, **kwargs):
        statements = value if isinstance(value, list) else [value]
        if not statements and not self.allow_empty:
            raise ValidationError("must not be empty")
        if len(statements) > MAX_STATEMENTS:
            raise ValidationError(f"{len(statements)} statements; at most {MAX_STATEMENTS}")
        wrong = {i: ["must be a statement object"] for i, s in enumerate(statements)
                 if not isinstance(s, dict)}
        if wrong:
            if not isinstance(value, list):
                raise ValidationError("must be a statement object or an array of them")
            raise ValidationError(wrong)
        return statements


class MatchBody(StrictSchema):
    statements = Statements(required=True)
    profile = fields.Dict(metadata={"description": "a profile document to use as well"})
    profile_id = fields.String(validate=validate.Length(1, 2048))
    template = fields.String(validate=validate.Length(1, 2048))
    statement_refs = Statements(allow_empty=True)
    include_unmatched = StrictBoolean(load_default=False)


class MatchResult(Answer):
    profiles = fields.List(fields.String(), required=True)
    results = fields.List(fields.Dict(), required=True)


# -- frameworks -----------------------------------------------------------------------------


class FrameworkEntry(Answer):
    iri = fields.String(required=True)
    version = fields.String(required=True)
    name = fields.String(required=True)
    source = fields.String(required=True)
    imported_at = fields.String(required=True, allow_none=True)


class FrameworkPage(Page):
    frameworks = fields.List(fields.Nested(FrameworkEntry), required=True)


class FrameworkDocumentQuery(StrictSchema):
    iri = fields.String(required=True, validate=validate.Length(1, documents.MAX_IRI))
    version = fields.String(validate=validate.Length(1, 100))
    format = fields.String(load_default="native", validate=validate.OneOf(["native", "case"]))
    case_version = fields.String(load_default="1.1", validate=validate.OneOf(case.CASE_VERSIONS))


class FrameworkImportQuery(StrictSchema):
    format = fields.String(load_default="auto", validate=validate.OneOf(FORMATS))
    replace = QueryBoolean(load_default=False)


class FrameworkImported(FrameworkEntry):
    changed = fields.Boolean(required=True)
    competencies = fields.Integer(required=True)
    dimensions = fields.Integer(required=True)
    roles = fields.Integer(required=True)


class JsonObject(Answer):
    """A JSON document (a framework, a CASE package, a report): see the operation."""


# -- learners -------------------------------------------------------------------------------


class LearnersQuery(PageQuery):
    limit = _limit(100, 1000)


class LearnerRow(Answer):
    id = fields.Integer(required=True)
    name = fields.String(required=True, allow_none=True)
    aliases = fields.Integer(required=True, metadata={"description": "how many"})
    evidence = fields.Integer(required=True, metadata={"description": "active evidence rows"})
    merged_into = fields.Integer(required=True, allow_none=True)


class LearnerPage(Page):
    learners = fields.List(fields.Nested(LearnerRow), required=True)


class LearnerPath(StrictSchema):
    learner_id = _query_id("learner id")


class Learner(Answer):
    id = fields.Integer(required=True)
    name = fields.String(required=True, allow_none=True)
    created_at = fields.String(required=True)
    merged_into = fields.Integer(required=True, allow_none=True)
    aliases = fields.List(fields.String(), required=True)
    targets = fields.List(fields.Dict(), required=True)
    evidence = fields.List(fields.Dict(), required=True, metadata={"description": "latest 100"})


class MergeBody(StrictSchema):
    learner = _id(required=True, metadata={"description": "the learner merged into this one"})


class Merged(Answer):
    learner = fields.Integer(required=True)
    merged = fields.Integer(required=True)
    moved = fields.Dict(required=True)


class SplitBody(StrictSchema):
    aliases = fields.List(
        fields.String(validate=validate.Length(1, 1000)),
        required=True,
        validate=validate.Length(1, 100),
        metadata={"description": "aliases such as mbox:ada@example.org"},
    )
    name = fields.String(allow_none=True, validate=validate.Length(0, 200))


class Split(Answer):
    learner = fields.Integer(required=True)
    new_learner = fields.Integer(required=True)
    moved = fields.Dict(required=True)


# -- mapping --------------------------------------------------------------------------------


class StatementPath(StrictSchema):
    statement_id = fields.String(required=True, validate=validate.Regexp(UUID))


class ExplainQuery(StrictSchema):
    version = fields.Integer(validate=validate.Range(1, MAX_VERSION))


class CoverageQuery(StrictSchema):
    limit = fields.Integer(load_default=50, validate=validate.Range(1, 1000))


class MappingVersion(Answer):
    version = fields.Integer(required=True)
    name = fields.String(required=True)
    status = fields.String(required=True)
    source = fields.String(required=True)
    digest = fields.String(required=True)
    created_at = fields.String(required=True)
    published_at = fields.String(required=True, allow_none=True)
    retired_at = fields.String(required=True, allow_none=True)


class VersionPage(Page):
    versions = fields.List(fields.Nested(MappingVersion), required=True)


class VersionPath(StrictSchema):
    version = fields.Integer(required=True, validate=validate.Range(1, MAX_VERSION))


class WhatIfBody(StrictSchema):
    limit = fields.Integer(strict=True, load_default=100, validate=validate.Range(1, 1000))
    offset = fields.Integer(strict=True, load_default=0, validate=validate.Range(0, 10_000_000))


class PublishBody(StrictSchema):
    replay = StrictBoolean(load_default=False)


class Published(Answer):
    version = fields.Integer(required=True)
    status = fields.String(required=True)
    retired = fields.Integer(required=True, allow_none=True)
    replay = fields.Dict()


# -- readiness ------------------------------------------------------------------------------


class ReadinessPath(StrictSchema):
    learner_id = fields.Integer(required=True, validate=validate.Range(0, MAX_ID))


class ReadinessQuery(StrictSchema):
    history = fields.Integer(load_default=200, validate=validate.Range(0, 1000))
    evidence = fields.Integer(
        validate=validate.Range(0, 10_000),
        metadata={"description": "at most this many evidence items per competency and "
                                 "dimension, strongest first (default: every item); "
                                 "`evidence_count` tells how many count"},
    )
    role = fields.String(
        validate=validate.Length(1, 2048), metadata={"description": "a role IRI or code"}
    )


class Readiness(Answer):
    learner_id = fields.Integer()
    roles = fields.List(fields.Dict(), required=True)
    competencies = fields.List(fields.Dict(), required=True)
    dimensions = fields.List(fields.Dict(), required=True)
    history = fields.List(fields.Dict(), required=True)


# -- LMS delivery: the outbox and targets ---------------------------------------------------


def _statuses() -> tuple[str, ...]:
    from lrs_connector.store import outbox

    return outbox.STATUSES


class OutboxQuery(PageQuery):
    status = fields.String(validate=validate.OneOf(_statuses()))
    target = fields.String(validate=validate.Length(1, 64))
    learner = fields.Integer(validate=validate.Range(1, MAX_ID),
                             metadata={"description": "learner id"})
    limit = _limit(50, 500)


class Delivery(Answer):
    id = fields.Integer(required=True)
    target = fields.String(required=True)
    learner_id = fields.Integer(required=True)
    role = fields.String(required=True)
    score = fields.Float(required=True, allow_none=True)
    level = fields.String(required=True, allow_none=True)
    status = fields.String(required=True, validate=validate.OneOf(_statuses()))
    attempts = fields.Integer(required=True)
    next_attempt_at = fields.String(required=True)
    last_error = fields.String(required=True, allow_none=True)
    outcome = fields.String(required=True, allow_none=True)
    created_at = fields.String(required=True)
    updated_at = fields.String(required=True)
    delivered_at = fields.String(required=True, allow_none=True)


class DeliveryPage(Page):
    deliveries = fields.List(fields.Nested(Delivery), required=True)


class DeliveryPath(StrictSchema):
    delivery_id = _query_id("delivery id")


def _ids(required: bool) -> fields.List:
    return fields.List(_id(), required=required,
                       validate=validate.Length(1 if required else 0, 1000),
                       metadata={"description": "delivery ids (at most 1,000)"})


class RetryBody(StrictSchema):
    ids = _ids(False)
    target = fields.String(validate=validate.Length(1, 64))
    status = fields.String(validate=validate.OneOf(["dead", "unresolved", "discarded",
                                                    "delivered"]))


class DiscardDeliveriesBody(StrictSchema):
    ids = _ids(True)


class Queued(Answer):
    queued = fields.Integer(required=True)


class DeliveriesDiscarded(Answer):
    discarded = fields.Integer(required=True)


class TargetPath(StrictSchema):
    name = fields.String(required=True, validate=validate.Length(1, 64))


class LmsTarget(Answer):
    name = fields.String(required=True)
    kind = fields.String(required=True)
    deliveries = fields.Dict(keys=fields.String(), values=fields.Integer(), required=True)
    last_delivery = fields.Nested(Delivery, required=True, allow_none=True)


class LmsTargets(Answer):
    targets = fields.List(fields.Nested(LmsTarget), required=True)


class Finding(Answer):
    check = fields.String(required=True)
    ok = fields.Boolean(required=True)
    message = fields.String(required=True)
    fix = fields.String(required=True)


class Checked(Answer):
    target = fields.String(required=True)
    ok = fields.Boolean(required=True)
    findings = fields.List(fields.Nested(Finding), required=True)


class UnresolvedQuery(StrictSchema):
    target = fields.String(validate=validate.Length(1, 64))


class UnresolvedLearner(Answer):
    target = fields.String(required=True)
    learner_id = fields.Integer(required=True)
    name = fields.String(required=True, allow_none=True)
    waiting = fields.Integer(required=True)
    aliases = fields.List(fields.String(), required=True)


class Unresolved(Answer):
    unresolved = fields.List(fields.Nested(UnresolvedLearner), required=True)


class LinkBody(StrictSchema):
    learner_id = _id(required=True)
    user_id = fields.String(required=True, validate=validate.Length(1, 255))


class Linked(Answer):
    learner_id = fields.Integer(required=True)
    user_id = fields.String(required=True)
    queued = fields.Integer(required=True)
