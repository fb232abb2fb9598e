"""1EdTech CASE 1.0 / 1.1 exchange: a CFPackage (JSON) to a :class:`Framework` and back.

How the framework model lives in CASE (docs/frameworks.md has the full table):

* the framework is the ``CFDocument`` (``uri`` = framework IRI, ``title``, ``description``,
  ``version``);
* competencies are ``CFItems`` (``uri`` = IRI, ``humanCodingScheme`` = code,
  ``abbreviatedStatement`` = name and ``fullStatement`` = description, or ``fullStatement`` = name
  when there is no description, ``CFItemType`` = kind); the hierarchy is ``isChildOf``
  associations, top-level items being children of the CFDocument;
* dimensions are ``CFItems`` whose ``CFItemType`` is ``Dimension``, children of the CFDocument;
  a competency feeds a dimension through an ``isRelatedTo`` association between them;
* the proficiency scale is a ``CFRubric`` with one criterion whose levels carry ``score`` =
  value, ``quality`` = name and ``description``;
* roles have no CASE equivalent. A CASE 1.1 export carries them in the package ``extensions``
  (``lrsConnector.roles``), which other tools ignore; a CASE 1.0 export drops them;
* every other association (``exactMatchOf``, ``precedes``, ``isRelatedTo`` between two
  competencies, a second ``isChildOf`` …) becomes a :class:`Link` and is written back as is.

CASE identifiers, association URIs and the document's creator are kept in
``Framework.case_details``, so a CASE → framework → CASE round trip keeps identifiers, URIs and
hierarchy. Frameworks that never came from CASE get name-based UUIDs (uuid5 of the IRI), stable
across exports.
"""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from typing import Any

from marshmallow import EXCLUDE, Schema, ValidationError, fields, validate

from lrs_connector.frameworks.documents import (
    MAX_CODE,
    MAX_COMPETENCIES,
    MAX_DESCRIPTION,
    MAX_DIMENSIONS,
    MAX_IRI,
    MAX_LINKS,
    MAX_NAME,
    RoleSchema,
    flatten_errors,
    is_iri,
    parse_json,
)
from lrs_connector.frameworks.model import (
    Competency,
    Dimension,
    Framework,
    FrameworkError,
    Link,
    ProficiencyLevel,
    Requirement,
    Role,
    association_key,
    build,
)

CASE_VERSIONS = ("1.0", "1.1")
DIMENSION_TYPE = "Dimension"
DEFAULT_KIND = "competency"
CREATOR = "lrs-connector"
EXTENSION = "lrsConnector"
ASSOCIATION_TYPES = (
    "isChildOf",
    "isPeerOf",
    "isPartOf",
    "exactMatchOf",
    "precedes",
    "isRelatedTo",
    "replacedBy",
    "exemplar",
    "hasSkillLevel",
    "isTranslationOf",
)
MAX_ITEMS = MAX_COMPETENCIES + MAX_DIMENSIONS
MAX_ASSOCIATIONS = MAX_ITEMS + MAX_LINKS
MAX_RUBRICS = 100


def _uuid(value: str) -> None:
    try:
        uuid.UUID(value)
    except ValueError:
        raise ValidationError("must be a UUID") from None


def _uri(value: str) -> None:
    if not is_iri(value):
        raise ValidationError("must be an absolute URI")


def _association_type(value: str) -> None:
    if value not in ASSOCIATION_TYPES and not (value.startswith("ext:") and len(value) > 4):
        raise ValidationError(f"must be one of {', '.join(ASSOCIATION_TYPES)} or an ext: extension")


def _identifier(**kw: Any) -> fields.String:
    return fields.String(validate=[validate.Length(max=100), _uuid], **kw)


def _uri_field(**kw: Any) -> fields.String:
    return fields.String(validate=[validate.Length(max=MAX_IRI), _uri], **kw)


def _string(max_length: int, **kw: Any) -> fields.String:
    return fields.String(validate=validate.Length(max=max_length), **kw)


class _Lenient(Schema):
    """Fields this module does not use are ignored, whatever a tool adds to its packages."""

    class Meta:
        unknown = EXCLUDE


class NodeRefSchema(_Lenient):
    title = _string(MAX_NAME, required=True)
    identifier = fields.String(required=True, validate=validate.Length(min=1, max=MAX_IRI))
    uri = _uri_field(required=True)


class DocumentSchema(_Lenient):
    identifier = _identifier(required=True)
    uri = _uri_field(required=True)
    creator = _string(MAX_NAME, required=True)
    title = fields.String(required=True, validate=validate.Length(min=1, max=MAX_NAME))
    lastChangeDateTime = fields.String(required=True)
    description = _string(MAX_DESCRIPTION, load_default="")
    version = _string(100, load_default=None)
    caseVersion = fields.String(load_default=None, validate=validate.OneOf(["1.1"]))


class LinkRefSchema(_Lenient):
    title = _string(MAX_NAME, load_default="")
    identifier = fields.String(required=True, validate=validate.Length(min=1, max=MAX_IRI))
    uri = _uri_field(required=True)


class ItemTypeSchema(_Lenient):
    identifier = _identifier(required=True)
    uri = _uri_field(required=True)
    title = fields.String(required=True, validate=validate.Length(min=1, max=100))


class DefinitionsSchema(_Lenient):
    CFItemTypes = fields.List(
        fields.Nested(ItemTypeSchema), load_default=list, validate=validate.Length(max=1000)
    )


class ItemSchema(_Lenient):
    identifier = _identifier(required=True)
    uri = _uri_field(required=True)
    fullStatement = fields.String(
        required=True, validate=validate.Length(min=1, max=MAX_DESCRIPTION)
    )
    lastChangeDateTime = fields.String(required=True)
    abbreviatedStatement = _string(MAX_NAME, load_default=None)
    humanCodingScheme = _string(MAX_CODE, load_default=None)
    CFItemType = _string(100, load_default=None)
    CFItemTypeURI = fields.Nested(LinkRefSchema, load_default=None)


class AssociationSchema(_Lenient):
    identifier = _identifier(required=True)
    uri = _uri_field(required=True)
    associationType = fields.String(required=True, validate=_association_type)
    originNodeURI = fields.Nested(NodeRefSchema, required=True)
    destinationNodeURI = fields.Nested(NodeRefSchema, required=True)
    lastChangeDateTime = fields.String(required=True)
    sequenceNumber = fields.Integer(load_default=None)


class LevelSchema(_Lenient):
    identifier = _identifier(required=True)
    uri = _uri_field(required=True)
    quality = _string(MAX_NAME, load_default=None)
    description = _string(MAX_DESCRIPTION, load_default="")
    score = fields.Float(load_default=None, allow_nan=False)
    position = fields.Integer(load_default=None)


class CriterionSchema(_Lenient):
    identifier = _identifier(required=True)
    uri = _uri_field(required=True)
    CFRubricCriterionLevels = fields.List(
        fields.Nested(LevelSchema), load_default=list, validate=validate.Length(max=100)
    )


class RubricSchema(_Lenient):
    identifier = _identifier(required=True)
    uri = _uri_field(required=True)
    title = _string(MAX_NAME, load_default="")
    CFRubricCriteria = fields.List(
        fields.Nested(CriterionSchema), load_default=list, validate=validate.Length(max=1000)
    )


class ExtensionSchema(_Lenient):
    roles = fields.List(fields.Nested(RoleSchema), load_default=list)


class PackageSchema(_Lenient):
    CFDocument = fields.Nested(DocumentSchema, required=True)
    CFItems = fields.List(
        fields.Nested(ItemSchema), load_default=list, validate=validate.Length(max=MAX_ITEMS)
    )
    CFAssociations = fields.List(
        fields.Nested(AssociationSchema),
        load_default=list,
        validate=validate.Length(max=MAX_ASSOCIATIONS),
    )
    CFRubrics = fields.List(
        fields.Nested(RubricSchema), load_default=list, validate=validate.Length(max=MAX_RUBRICS)
    )
    CFDefinitions = fields.Nested(DefinitionsSchema, load_default=dict)
    extensions = fields.Dict(load_default=dict)


def is_package(document: Any) -> bool:
    """Whether a parsed JSON document looks like a CFPackage (has a CFDocument)."""
    return isinstance(document, dict) and "CFDocument" in document


# --------------------------------------------------------------------------- import


def framework_from_package(package: Any) -> Framework:
    """A checked framework from a parsed CFPackage, or :class:`FrameworkError` naming the
    item (e.g. ``CFItems[4] (<identifier>)``) and field at fault."""
    if not isinstance(package, dict):
        raise FrameworkError("a CASE package must be a JSON object with a CFDocument")
    try:
        data = PackageSchema().load(package)
    except ValidationError as exc:
        raise flatten_errors(exc.messages, package)[0] from None
    return _Importer(data).framework()


def loads(text: str | bytes) -> Framework:
    return framework_from_package(parse_json(text))


class _Importer:
    def __init__(self, data: dict[str, Any]) -> None:
        self.data = data
        self.document = data["CFDocument"]
        self.details: dict[str, str] = {}
        self.by_identifier: dict[str, dict[str, Any]] = {}
        self.by_uri: dict[str, dict[str, Any]] = {}

    def framework(self) -> Framework:
        document = self.document
        self.details[document["uri"]] = document["identifier"]
        if document["creator"] != CREATOR:
            self.details["creator"] = document["creator"]
        items = self.data["CFItems"]
        self._index(items)
        kinds = {item["uri"]: self._kind(item) for item in items}
        dimension_uris = {uri for uri, kind in kinds.items() if kind.lower() == "dimension"}
        parents: dict[str, str | None] = {}
        tags: dict[str, list[str]] = {}
        links: list[Link] = []
        seen: set[str] = set()
        for index, association in enumerate(self.data["CFAssociations"]):
            where = f"CFAssociations[{index}] ({association['identifier']})"
            kind = association["associationType"]
            origin = self._resolve(association["originNodeURI"], where, "originNodeURI")
            target = self._resolve(association["destinationNodeURI"], where, "destinationNodeURI")
            key = association_key(origin, kind, target)
            if key in seen:
                continue  # the same relation twice says nothing more
            seen.add(key)
            self.details[key] = association["identifier"]
            self.details[f"uri {key}"] = association["uri"]
            origin_is_item = origin in self.by_uri
            if kind == "isChildOf" and origin_is_item and origin not in parents:
                if target != document["uri"] and target not in self.by_uri:
                    raise FrameworkError(
                        "an item can only be the child of an item of this package or of "
                        "its CFDocument",
                        where,
                        "destinationNodeURI",
                    )
                if origin in dimension_uris:
                    if target == document["uri"]:
                        parents[origin] = None
                        continue
                elif target not in dimension_uris:
                    parents[origin] = None if target == document["uri"] else target
                    continue
            if kind == "isRelatedTo":
                # Either direction tags a competency with a dimension.
                pair = {origin, target}
                dimension = pair & dimension_uris
                competency = {u for u in pair - dimension_uris if u in self.by_uri}
                if len(dimension) == 1 and len(competency) == 1:
                    tags.setdefault(competency.pop(), []).append(dimension.pop())
                    continue
            links.append(Link(origin, kind, target))
        competencies, dimensions = [], []
        codes: set[str] = set()
        for item in items:
            code = item["humanCodingScheme"] or item["identifier"]
            if code in codes:
                code = item["identifier"]  # CASE codes need not be unique; ours must
            codes.add(code)
            self.details[item["uri"]] = item["identifier"]
            name = item["abbreviatedStatement"] or item["fullStatement"]
            description = item["fullStatement"] if item["abbreviatedStatement"] else ""
            if item["uri"] in dimension_uris:
                dimensions.append(Dimension(item["uri"], code, name, description))
            else:
                competencies.append(
                    Competency(
                        iri=item["uri"],
                        code=code,
                        name=name,
                        description=description,
                        parent=parents.get(item["uri"]),
                        kind=kinds[item["uri"]],
                        dimensions=tuple(tags.get(item["uri"], ())),
                    )
                )
        if not competencies:
            raise FrameworkError("the package has no competency items", "CFItems", None)
        return build(
            iri=document["uri"],
            version=document["version"] or document["lastChangeDateTime"][:100] or "1",
            name=document["title"],
            description=document["description"],
            competencies=competencies,
            dimensions=dimensions,
            scale=self._scale(),
            roles=self._roles(),
            links=links,
            case_details=self.details,
        )

    def _kind(self, item: dict[str, Any]) -> str:
        """CFItemType, else the title of the CFItemTypeURI or of its CFDefinitions entry."""
        defined = (self.data["CFDefinitions"] or {}).get("CFItemTypes", [])
        by_identifier = {t["identifier"].lower(): t for t in defined}
        ref = item["CFItemTypeURI"]
        definition = by_identifier.get(ref["identifier"].lower()) if ref else None
        kind = item["CFItemType"] or (definition or {}).get("title") or (ref or {}).get("title")
        kind = kind or DEFAULT_KIND
        if ref is None:  # a type named only by its label may still be defined
            ref = next((t for t in defined if t["title"] == kind), None)
        if ref is not None:
            self.details[f"itemtype {kind}"] = f"{ref['identifier']} {ref['uri']}"
        return kind

    def _index(self, items: list[dict[str, Any]]) -> None:
        document = self.document
        for index, item in enumerate(items):
            where = f"CFItems[{index}] ({item['identifier']})"
            identifier = item["identifier"].lower()
            if identifier in self.by_identifier or identifier == document["identifier"].lower():
                raise FrameworkError("identifier is used twice in the package", where, "identifier")
            if item["uri"] in self.by_uri or item["uri"] == document["uri"]:
                raise FrameworkError("uri is used twice in the package", where, "uri")
            self.by_identifier[identifier] = item
            self.by_uri[item["uri"]] = item

    def _resolve(self, ref: dict[str, Any], where: str, field: str) -> str:
        """A node reference → the node's URI (its IRI here). Identifiers win over URIs, as
        in CASE; a reference to a node outside the package keeps its own URI."""
        identifier = ref["identifier"].lower()
        document = self.document
        if identifier == document["identifier"].lower():
            return document["uri"]
        item = self.by_identifier.get(identifier)
        if item is not None:
            if ref["uri"] != item["uri"]:
                raise FrameworkError(
                    f"identifier {ref['identifier']} is item {item['uri']} but uri says "
                    f"{ref['uri']}",
                    where,
                    f"{field}.uri",
                )
            return item["uri"]
        if ref["uri"] in self.by_uri or ref["uri"] == document["uri"]:
            raise FrameworkError(
                f"uri {ref['uri']} is an item of this package with another identifier",
                where,
                f"{field}.identifier",
            )
        self.details[ref["uri"]] = ref["identifier"]
        self.details[f"title {ref['uri']}"] = ref["title"]
        return ref["uri"]

    def _scale(self) -> list[ProficiencyLevel]:
        """The first rubric whose (single) criterion has whole, non-negative scores."""
        for rubric in self.data["CFRubrics"]:
            criteria = rubric["CFRubricCriteria"]
            if len(criteria) != 1:
                continue
            levels = criteria[0]["CFRubricCriterionLevels"]
            scores = [lv["score"] for lv in levels]
            if not levels or any(s is None or s < 0 or s != int(s) for s in scores):
                continue
            if len(set(scores)) != len(scores):
                continue
            self.details["scale rubric"] = f"{rubric['identifier']} {rubric['uri']}"
            self.details["scale criterion"] = f"{criteria[0]['identifier']} {criteria[0]['uri']}"
            out = []
            for level in levels:
                value = int(level["score"])
                self.details[f"scale level {value}"] = f"{level['identifier']} {level['uri']}"
                out.append(
                    ProficiencyLevel(value, level["quality"] or str(value), level["description"])
                )
            return out
        return []

    def _roles(self) -> list[Role]:
        extension = self.data["extensions"].get(EXTENSION)
        if extension is None:
            return []
        try:
            loaded = ExtensionSchema().load(extension)
        except ValidationError as exc:
            problem = flatten_errors(exc.messages, extension)[0]
            raise FrameworkError(
                problem.message,
                f"extensions.{EXTENSION}.{problem.item}" if problem.item else None,
                problem.field,
            ) from None
        return [
            Role(
                iri=r["iri"],
                code=r["code"],
                name=r["name"],
                description=r["description"],
                requirements=tuple(Requirement(**q) for q in r["requirements"]),
            )
            for r in loaded["roles"]
        ]


# --------------------------------------------------------------------------- export


def package_from_framework(
    framework: Framework, *, case_version: str = "1.1", changed: datetime | None = None
) -> dict[str, Any]:
    """A CFPackage for the framework. ``changed`` is written as every ``lastChangeDateTime``
    (default: now). CASE 1.0 has no extensions, so roles are left out of a 1.0 package."""
    if case_version not in CASE_VERSIONS:
        raise ValueError(f"case_version must be one of {', '.join(CASE_VERSIONS)}")
    stamp = (changed or datetime.now(UTC)).astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S+00:00")
    details = framework.case_details

    def identifier(key: str) -> str:
        return details.get(key) or str(uuid.uuid5(uuid.NAMESPACE_URL, key))

    def ref(uri: str) -> dict[str, str]:
        node = framework.target(uri)
        if uri == framework.iri:
            title = framework.name
        elif node is not None:
            title = node.name
        else:
            title = details.get(f"title {uri}", uri)
        return {"title": title, "identifier": identifier(uri), "uri": uri}

    document: dict[str, Any] = {
        "identifier": identifier(framework.iri),
        "uri": framework.iri,
        "creator": details.get("creator", CREATOR),
        "title": framework.name,
        "lastChangeDateTime": stamp,
        "version": framework.version,
    }
    if framework.description:
        document["description"] = framework.description
    if case_version == "1.1":
        document["caseVersion"] = "1.1"

    item_types: dict[str, dict[str, str]] = {}

    def item_type(kind: str) -> dict[str, str]:
        if kind not in item_types:
            kept = details.get(f"itemtype {kind}")
            if kept:
                ident, _, uri = kept.partition(" ")
            else:
                uri = f"{framework.iri}/case/item-types/{uuid.uuid5(uuid.NAMESPACE_URL, kind)}"
                ident = identifier(uri)
            item_types[kind] = {"title": kind, "identifier": ident, "uri": uri}
        return item_types[kind]

    items = [
        _item(c, item_type(c.kind), identifier(c.iri), stamp)
        for c in framework.competencies.values()
    ]
    items += [
        _item(d, item_type(DIMENSION_TYPE), identifier(d.iri), stamp)
        for d in framework.dimensions.values()
    ]

    associations: list[dict[str, Any]] = []

    def associate(origin: str, kind: str, target: str, sequence: int | None = None) -> None:
        key = association_key(origin, kind, target)
        ident = identifier(key)
        association = {
            "identifier": ident,
            "associationType": kind,
            "uri": details.get(f"uri {key}") or f"{framework.iri}/case/associations/{ident}",
            "originNodeURI": ref(origin),
            "destinationNodeURI": ref(target),
            "lastChangeDateTime": stamp,
        }
        if sequence is not None:
            association["sequenceNumber"] = sequence
        associations.append(association)

    positions: dict[str | None, int] = {}
    for c in framework.competencies.values():
        positions[c.parent] = positions.get(c.parent, 0) + 1
        associate(c.iri, "isChildOf", c.parent or framework.iri, positions[c.parent])
    for d in framework.dimensions.values():
        positions[None] = positions.get(None, 0) + 1
        associate(d.iri, "isChildOf", framework.iri, positions[None])
    for c in framework.competencies.values():
        for dimension in c.dimensions:
            associate(c.iri, "isRelatedTo", dimension)
    for link in framework.links:
        associate(link.source, link.type, link.target)

    package: dict[str, Any] = {
        "CFDocument": document,
        "CFItems": items,
        "CFAssociations": associations,
    }
    package["CFDefinitions"] = {
        "CFItemTypes": [
            {
                **ref_,
                "description": ref_["title"],
                "hierarchyCode": str(position),
                "typeCode": ref_["title"],
                "lastChangeDateTime": stamp,
            }
            for position, ref_ in enumerate(item_types.values(), start=1)
        ]
    }
    if framework.scale:
        package["CFRubrics"] = [_rubric(framework, stamp, identifier)]
    if case_version == "1.1" and framework.roles:
        package["extensions"] = {
            EXTENSION: {"roles": [r.as_dict() for r in framework.roles.values()]}
        }
    return package


def _item(
    node: Competency | Dimension, kind: dict[str, str], identifier: str, stamp: str
) -> dict[str, Any]:
    item: dict[str, Any] = {
        "identifier": identifier,
        "uri": node.iri,
        "fullStatement": node.description or node.name,
        "lastChangeDateTime": stamp,
        "CFItemType": kind["title"],
        "CFItemTypeURI": kind,
    }
    if node.description:
        item["abbreviatedStatement"] = node.name
    if node.code != identifier:
        item["humanCodingScheme"] = node.code
    return item


def _rubric(framework: Framework, stamp: str, identifier) -> dict[str, Any]:
    details = framework.case_details

    def kept(key: str, default_uri: str) -> tuple[str, str]:
        if key in details:
            ident, _, uri = details[key].partition(" ")
            return ident, uri
        return identifier(default_uri), default_uri

    rubric_id, rubric_uri = kept("scale rubric", f"{framework.iri}/case/scale")
    criterion_id, criterion_uri = kept("scale criterion", f"{framework.iri}/case/scale/criterion")
    levels = []
    for position, level in enumerate(framework.scale, start=1):
        level_id, level_uri = kept(
            f"scale level {level.value}", f"{framework.iri}/case/scale/levels/{level.value}"
        )
        levels.append(
            {
                "identifier": level_id,
                "uri": level_uri,
                "quality": level.name,
                "description": level.description,
                "score": level.value,
                "position": position,
                "rubricCriterionId": criterion_id,
                "lastChangeDateTime": stamp,
            }
        )
    return {
        "identifier": rubric_id,
        "uri": rubric_uri,
        "title": f"{framework.name}: proficiency scale",
        "lastChangeDateTime": stamp,
        "CFRubricCriteria": [
            {
                "identifier": criterion_id,
                "uri": criterion_uri,
                "description": "Proficiency",
                "position": 1,
                "rubricId": rubric_id,
                "lastChangeDateTime": stamp,
                "CFRubricCriterionLevels": levels,
            }
        ],
    }
