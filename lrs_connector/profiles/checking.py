"""Structure checks for profile documents (xAPI Profiles 1.0, structure part), strict or lenient.

Every finding names the node (profile, concept, template or pattern id) and the property. Each
check has a weight:

* ``fatal``: the connector cannot evaluate the node (unparseable JSONPath, a pattern without
  exactly one kind, a pattern member that does not exist, a pattern cycle). Always an error.
* ``must``: the spec says MUST. An error in strict mode, a warning in lenient mode, because many
  published profiles break such rules (templates without ``definition``, locations without
  ``$``, empty ``rules`` arrays) and are still usable.
* ``should``: the spec says SHOULD. Always a warning.

``check`` returns findings; it never raises for a bad document.
"""

from __future__ import annotations

import json
import re
from collections.abc import Collection, Iterable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from lrs_connector.profiles.documents import Profile, ProfileError
from lrs_connector.profiles.jsonpath import JSONPathError, compile_path
from lrs_connector.profiles.patterns import PATTERN_KINDS
from lrs_connector.profiles.profileset import ProfileSet
from lrs_connector.profiles.templates import (
    CONTEXT_TYPE_PROPERTIES,
    PRESENCE_VALUES,
    compile_template,
)

ERROR = "error"
WARNING = "warning"

PROFILE_CONTEXT = "https://w3id.org/xapi/profiles/context"
ACTIVITY_CONTEXT = "https://w3id.org/xapi/profiles/activity-context"
CONFORMS_TO = "https://w3id.org/xapi/profiles#1.0"

_ADL_VERBS = (
    "answered asked attempted attended commented completed exited experienced failed imported "
    "initialized interacted launched mastered passed preferred progressed registered responded "
    "resumed scored shared suspended terminated voided"
)
_ADL_ACTIVITY_TYPES = (
    "assessment course file interaction link media meeting module objective performance "
    "profile question simulation cmi.interaction"
)
#: IRIs of the core xAPI vocabulary (ADL verbs and activity types, defined with the xAPI
#: specification rather than in a profile document). Templates may use them without a loaded
#: profile defining them; pass ``known_iris=()`` to :func:`check` to require definitions.
BASE_VOCABULARY: frozenset[str] = frozenset(
    [f"http://adlnet.gov/expapi/verbs/{v}" for v in _ADL_VERBS.split()]
    + [f"http://adlnet.gov/expapi/activities/{t}" for t in _ADL_ACTIVITY_TYPES.split()]
)

_IRI = re.compile(r"^[A-Za-z][A-Za-z0-9+.\-]*:[^\s<>\"{}|\\^`]+$")
_LANGUAGE_TAG = re.compile(r"^[A-Za-z]{1,8}(-[A-Za-z0-9]{1,8})*$")

_CONCEPT_RELATIONS = ("broader", "narrower", "related")
_CONCEPT_MATCHES = ("broadMatch", "narrowMatch", "relatedMatch", "exactMatch")
_BASIC_CONCEPT_TYPES = ("Verb", "ActivityType", "AttachmentUsageType")
_EXTENSION_TYPES = ("ContextExtension", "ResultExtension", "ActivityExtension")
_RESOURCE_TYPES = ("StateResource", "AgentProfileResource", "ActivityProfileResource")
CONCEPT_TYPES = (*_BASIC_CONCEPT_TYPES, *_EXTENSION_TYPES, *_RESOURCE_TYPES, "Activity")

_PROFILE_KEYS = {
    "id",
    "type",
    "conformsTo",
    "prefLabel",
    "definition",
    "seeAlso",
    "versions",
    "author",
    "concepts",
    "templates",
    "patterns",
}
_COMMON_CONCEPT_KEYS = {"id", "type", "inScheme", "prefLabel", "definition", "deprecated"}
_ALLOWED_KEYS = {
    "basic": _COMMON_CONCEPT_KEYS | set(_CONCEPT_RELATIONS) | set(_CONCEPT_MATCHES),
    "extension": _COMMON_CONCEPT_KEYS
    | {"recommendedActivityTypes", "recommendedVerbs", "context", "schema", "inlineSchema"},
    "resource": _COMMON_CONCEPT_KEYS | {"contentType", "context", "schema", "inlineSchema"},
    "activity": {"id", "type", "inScheme", "deprecated", "activityDefinition"},
    "template": {
        "id",
        "type",
        "inScheme",
        "prefLabel",
        "definition",
        "deprecated",
        "verb",
        "objectActivityType",
        *CONTEXT_TYPE_PROPERTIES,
        "attachmentUsageType",
        "objectStatementRefTemplate",
        "contextStatementRefTemplate",
        "rules",
    },
    "rule": {"location", "selector", "presence", "any", "all", "none", "scopeNote"},
    "pattern": {
        "id",
        "type",
        "primary",
        "inScheme",
        "prefLabel",
        "definition",
        "deprecated",
        *PATTERN_KINDS,
    },
}


@dataclass(frozen=True)
class Finding:
    """One problem: where (node id and property) and what."""

    severity: str  # "error" or "warning"
    node_id: str
    property: str
    message: str
    profile_id: str | None = None

    def as_dict(self) -> dict[str, Any]:
        return {
            "severity": self.severity,
            "node": self.node_id,
            "property": self.property,
            "message": self.message,
            "profile": self.profile_id,
        }

    def __str__(self) -> str:
        return f"{self.severity.upper():7} {self.node_id} [{self.property}] {self.message}"


def check(
    profiles: ProfileSet | Profile | Iterable[Profile],
    *,
    strict: bool = True,
    known_iris: Collection[str] = BASE_VOCABULARY,
) -> list[Finding]:
    """Check every loaded profile; cross-references resolve across all of them."""
    if isinstance(profiles, ProfileSet):
        profile_set = profiles
    elif isinstance(profiles, Profile):
        profile_set = ProfileSet([profiles])
    else:
        profile_set = ProfileSet(profiles)
    checker = _Checker(profile_set, strict, frozenset(known_iris))
    for profile in profile_set.profiles:
        checker.check_profile(profile)
    checker.check_cycles()
    return checker.findings


def has_errors(findings: Iterable[Finding]) -> bool:
    return any(f.severity == ERROR for f in findings)


class _Checker:
    def __init__(self, profile_set: ProfileSet, strict: bool, known: frozenset[str]) -> None:
        self.set = profile_set
        self.strict = strict
        self.known = known
        self.findings: list[Finding] = []
        self.profile: Profile | None = None
        self.seen_ids: dict[str, str] = {}  # node id -> profile id, across the set
        self.fatal_count = 0

    # --- reporting -----------------------------------------------------------------------

    def report(self, weight: str, node: str, prop: str, message: str) -> None:
        if weight == "fatal":
            self.fatal_count += 1
        severity = ERROR if weight == "fatal" or (weight == "must" and self.strict) else WARNING
        profile_id = self.profile.id if self.profile else None
        self.findings.append(Finding(severity, node, prop, message, profile_id))

    # --- small value checks (return True when fine) ----------------------------------------

    def iri(self, node: str, prop: str, value: Any, weight: str = "must") -> bool:
        if isinstance(value, str) and _IRI.match(value):
            return True
        self.report(weight, node, prop, f"must be an absolute IRI, found {_show(value)}")
        return False

    def iri_list(self, node: str, prop: str, value: Any) -> list[str]:
        if not isinstance(value, list):
            self.report("must", node, prop, f"must be an array of IRIs, found {_show(value)}")
            return [value] if isinstance(value, str) else []
        return [v for v in value if self.iri(node, prop, v)]

    def language_map(self, node: str, prop: str, value: Any) -> None:
        if not isinstance(value, dict) or not value:
            self.report("must", node, prop, f"must be a language map, found {_show(value)}")
            return
        for tag, text in value.items():
            if not _LANGUAGE_TAG.match(tag) or not isinstance(text, str):
                self.report("must", node, prop, f"bad language map entry {tag!r}: {_show(text)}")

    def required(self, node_id: str, node: dict[str, Any], props: Iterable[str]) -> None:
        for prop in props:
            if prop not in node:
                self.report("must", node_id, prop, "is required")

    def boolean(self, node_id: str, node: dict[str, Any], prop: str) -> None:
        if prop in node and not isinstance(node[prop], bool):
            self.report("must", node_id, prop, f"must be a boolean, found {_show(node[prop])}")

    def type_is(self, node_id: str, node: dict[str, Any], expected: Collection[str]) -> bool:
        if node.get("type") in expected:
            return True
        wanted = " or ".join(sorted(expected))
        self.report("must", node_id, "type", f"must be {wanted}, found {_show(node.get('type'))}")
        return False

    def unknown_keys(self, node_id: str, node: dict[str, Any], allowed: set[str]) -> None:
        # Spec 4.0: other properties must be JSON-LD keywords or (compact) IRIs.
        for key in node:
            if key not in allowed and not key.startswith("@") and ":" not in key:
                self.report("must", node_id, key, "is not a property of this node type")

    def in_scheme(self, node_id: str, node: dict[str, Any], required: bool = True) -> None:
        if "inScheme" not in node:
            if required:
                self.report("must", node_id, "inScheme", "is required")
            return
        assert self.profile is not None
        if node["inScheme"] not in self.profile.version_ids:
            self.report(
                "must",
                node_id,
                "inScheme",
                f"{_show(node['inScheme'])} is not a version of profile {self.profile.id}",
            )

    def node_id(self, node: dict[str, Any], collection: str, index: int) -> str:
        assert self.profile is not None
        value = node.get("id")
        if isinstance(value, str) and value:
            if not _IRI.match(value):
                self.report("must", value, "id", "must be an absolute IRI")
            owner = self.seen_ids.get(value)
            if owner is not None:
                where = "this profile" if owner == self.profile.id else f"profile {owner}"
                self.report("must", value, "id", f"is already defined in {where}")
            else:
                self.seen_ids[value] = self.profile.id
            return value
        fallback = f"{self.profile.id}#{collection}[{index}]"
        self.report("must", fallback, "id", "is required (a string IRI)")
        return fallback

    # --- profile ---------------------------------------------------------------------------

    def check_profile(self, profile: Profile) -> None:
        self.profile = profile
        doc = profile.document
        pid = profile.id
        self.seen_ids.setdefault(pid, pid)
        self.iri(pid, "id", pid)
        self.required(
            pid,
            doc,
            ["@context", "type", "conformsTo", "prefLabel", "definition", "versions", "author"],
        )
        self.unknown_keys(pid, doc, _PROFILE_KEYS)
        if "type" in doc:
            self.type_is(pid, doc, ["Profile"])
        if "@context" in doc:
            self.context(pid, "@context", doc["@context"], PROFILE_CONTEXT)
        conforms = doc.get("conformsTo")
        known_version = conforms is None or conforms == CONFORMS_TO
        if not known_version and self.iri(pid, "conformsTo", conforms):
            self.report(
                "should", pid, "conformsTo", f"is {conforms}; this checker knows {CONFORMS_TO}"
            )
        for prop in ("prefLabel", "definition"):
            if prop in doc:
                self.language_map(pid, prop, doc[prop])
        if "seeAlso" in doc:
            self.iri(pid, "seeAlso", doc["seeAlso"])
        self.versions(pid, doc.get("versions"))
        self.author(pid, doc.get("author"))
        for key, value in doc.items():
            if key not in ("concepts", "templates", "patterns") or not value:
                self.empty_values(pid, value, key)
        for collection, method in (
            ("concepts", self.concept),
            ("templates", self.template),
            ("patterns", self.pattern),
        ):
            nodes = doc.get(collection)
            if nodes is None:
                continue
            if not isinstance(nodes, list):
                self.report("must", pid, collection, "must be an array")
                continue
            for index, node in enumerate(nodes):
                if not isinstance(node, dict):
                    self.report(
                        "must", f"{pid}#{collection}[{index}]", collection, "must be an object"
                    )
                    continue
                node_id = self.node_id(node, collection, index)
                for key, value in node.items():
                    self.empty_values(node_id, value, key)
                method(node_id, node)
        self.profile = None

    def context(self, node_id: str, prop: str, value: Any, expected: str) -> None:
        if isinstance(value, str):
            if value != expected:
                self.report("should", node_id, prop, f"should be {expected}")
        elif isinstance(value, list):
            if expected not in value:
                self.report("must", node_id, prop, f"an array @context must contain {expected}")
        else:
            self.report("must", node_id, prop, f"must be {expected} or an array containing it")

    def versions(self, pid: str, versions: Any) -> None:
        if versions is None:
            return
        if not isinstance(versions, list) or not versions:
            self.report("must", pid, "versions", "must be a non-empty array of version objects")
            return
        seen: set[str] = set()
        for index, version in enumerate(versions):
            where = f"versions[{index}]"
            if not isinstance(version, dict):
                self.report("must", pid, where, "must be an object")
                continue
            vid = version.get("id")
            if self.iri(pid, f"{where}.id", vid):
                if vid == pid:
                    self.report("must", pid, f"{where}.id", "must differ from the profile id")
                if vid in seen:
                    self.report("must", pid, f"{where}.id", f"duplicate version {vid}")
                seen.add(vid)
            if not _is_timestamp(version.get("generatedAtTime")):
                self.report("must", pid, f"{where}.generatedAtTime", "must be a timestamp")
            if "wasRevisionOf" in version:
                self.iri_list(pid, f"{where}.wasRevisionOf", version["wasRevisionOf"])
            self.unknown_keys(pid, version, {"id", "wasRevisionOf", "generatedAtTime"})

    def author(self, pid: str, author: Any) -> None:
        if author is None:
            return
        if not isinstance(author, dict):
            self.report("must", pid, "author", "must be an Organization or Person object")
            return
        if author.get("type") not in ("Organization", "Person"):
            self.report("must", pid, "author.type", "must be Organization or Person")
        if not isinstance(author.get("name"), str):
            self.report("must", pid, "author.name", "is required (a string)")
        if "url" in author:
            self.iri(pid, "author.url", author["url"])

    def empty_values(self, node_id: str, value: Any, path: str) -> None:
        """Spec 4.0: no empty objects, nulls, empty strings or empty arrays, at any depth."""
        if isinstance(value, dict):
            if not value:
                self.report("must", node_id, path, "must not be an empty object")
            for key, child in value.items():
                self.empty_values(node_id, child, f"{path}.{key}")
        elif isinstance(value, list):
            if not value:
                self.report("must", node_id, path, "must not be an empty array")
            for index, child in enumerate(value):
                self.empty_values(node_id, child, f"{path}[{index}]")
        elif value is None:
            self.report("must", node_id, path, "must not be null")
        elif value == "":
            self.report("must", node_id, path, "must not be an empty string")

    # --- concepts --------------------------------------------------------------------------

    def concept(self, cid: str, node: dict[str, Any]) -> None:
        kind = node.get("type")
        if kind not in CONCEPT_TYPES:
            self.report("must", cid, "type", f"unknown concept type {_show(kind)}")
            return
        self.in_scheme(cid, node)
        self.boolean(cid, node, "deprecated")
        if kind == "Activity":
            self.unknown_keys(cid, node, _ALLOWED_KEYS["activity"])
            self.activity(cid, node)
            return
        self.required(cid, node, ["prefLabel", "definition"])
        for prop in ("prefLabel", "definition"):
            if prop in node:
                self.language_map(cid, prop, node[prop])
        if kind in _BASIC_CONCEPT_TYPES:
            self.unknown_keys(cid, node, _ALLOWED_KEYS["basic"])
            for prop in _CONCEPT_RELATIONS:
                if prop in node:
                    for target in self.iri_list(cid, prop, node[prop]):
                        self.same_profile_concept(cid, prop, target, kind)
            for prop in _CONCEPT_MATCHES:
                if prop in node:
                    self.iri_list(cid, prop, node[prop])
            if "related" in node and node.get("deprecated") is not True:
                self.report("must", cid, "related", "may only be used on deprecated concepts")
            return
        is_extension = kind in _EXTENSION_TYPES
        self.unknown_keys(cid, node, _ALLOWED_KEYS["extension" if is_extension else "resource"])
        if is_extension:
            if "recommendedActivityTypes" in node:
                if kind != "ActivityExtension":
                    self.report(
                        "must",
                        cid,
                        "recommendedActivityTypes",
                        "is only allowed on an ActivityExtension",
                    )
                self.iri_list(cid, "recommendedActivityTypes", node["recommendedActivityTypes"])
            if "recommendedVerbs" in node:
                if kind == "ActivityExtension":
                    self.report(
                        "must",
                        cid,
                        "recommendedVerbs",
                        "is only allowed on a ContextExtension or ResultExtension",
                    )
                self.iri_list(cid, "recommendedVerbs", node["recommendedVerbs"])
        else:
            if not isinstance(node.get("contentType"), str):
                self.report("must", cid, "contentType", "is required (a media type string)")
        for prop in ("context", "schema"):
            if prop in node:
                self.iri(cid, prop, node[prop])
        if "schema" in node and "inlineSchema" in node:
            self.report("must", cid, "inlineSchema", "use at most one of schema and inlineSchema")
        schema = node.get("inlineSchema")
        if isinstance(schema, str):
            try:
                json.loads(schema)
            except json.JSONDecodeError:
                self.report("should", cid, "inlineSchema", "is not parseable JSON")
        elif schema is not None and not isinstance(schema, dict):
            self.report("must", cid, "inlineSchema", "must be a JSON Schema (as a string)")

    def activity(self, cid: str, node: dict[str, Any]) -> None:
        definition = node.get("activityDefinition")
        if not isinstance(definition, dict):
            self.report("must", cid, "activityDefinition", "is required (an object)")
            return
        if "@context" not in definition:
            self.report("must", cid, "activityDefinition.@context", "is required")
        else:
            self.context(
                cid, "activityDefinition.@context", definition["@context"], ACTIVITY_CONTEXT
            )
        if "type" in definition:
            self.iri(cid, "activityDefinition.type", definition["type"])
        for prop in ("name", "description"):
            if prop in definition:
                self.language_map(cid, f"activityDefinition.{prop}", definition[prop])

    def same_profile_concept(self, cid: str, prop: str, target: str, kind: str) -> None:
        assert self.profile is not None
        other = self.profile.concepts.get(target)
        if other is None:
            self.report("must", cid, prop, f"{target} is not a concept of this profile")
        elif other.get("type") != kind:
            self.report("must", cid, prop, f"{target} is a {other.get('type')}, not a {kind}")

    # --- templates -------------------------------------------------------------------------

    def template(self, tid: str, node: dict[str, Any]) -> None:
        self.type_is(tid, node, ["StatementTemplate"])
        self.unknown_keys(tid, node, _ALLOWED_KEYS["template"])
        self.in_scheme(tid, node)
        self.required(tid, node, ["prefLabel", "definition"])
        for prop in ("prefLabel", "definition"):
            if prop in node:
                self.language_map(tid, prop, node[prop])
        self.boolean(tid, node, "deprecated")
        if "verb" in node and self.iri(tid, "verb", node["verb"]):
            self.reference(tid, "verb", node["verb"], "Verb")
        if "objectActivityType" in node and self.iri(
            tid, "objectActivityType", node["objectActivityType"]
        ):
            self.reference(tid, "objectActivityType", node["objectActivityType"], "ActivityType")
        for prop in CONTEXT_TYPE_PROPERTIES:
            if prop in node:
                for target in self.iri_list(tid, prop, node[prop]):
                    self.reference(tid, prop, target, "ActivityType")
        if "attachmentUsageType" in node:
            for target in self.iri_list(tid, "attachmentUsageType", node["attachmentUsageType"]):
                self.reference(tid, "attachmentUsageType", target, "AttachmentUsageType")
        for prop in ("objectStatementRefTemplate", "contextStatementRefTemplate"):
            if prop in node:
                for target in self.iri_list(tid, prop, node[prop]):
                    if self.set.template_node(target) is None:
                        self.report("must", tid, prop, f"{target} is not a loaded template")
        if "objectStatementRefTemplate" in node and "objectActivityType" in node:
            self.report(
                "must",
                tid,
                "objectStatementRefTemplate",
                "cannot be used together with objectActivityType",
            )
        fatal_before = self.fatal_count
        rules = node.get("rules")
        if rules is not None:
            if not isinstance(rules, list):
                self.report("must", tid, "rules", "must be an array of rules")
            else:
                for index, rule in enumerate(rules):
                    self.rule(tid, f"rules[{index}]", rule)
        if self.fatal_count == fatal_before:  # anything else that stops compilation
            try:
                compile_template(node)
            except ProfileError as exc:
                self.report("fatal", tid, "rules", f"cannot be evaluated: {exc}")

    def reference(self, tid: str, prop: str, target: str, kind: str) -> None:
        concept = self.set.concept(target)
        if concept is None:
            if target not in self.known:
                self.report("must", tid, prop, f"{target} is not a {kind} of any loaded profile")
        elif concept.get("type") != kind:
            self.report("must", tid, prop, f"{target} is a {concept.get('type')}, not a {kind}")

    def rule(self, tid: str, where: str, rule: Any) -> None:
        if not isinstance(rule, dict):
            self.report("must", tid, where, "a rule must be an object")
            return
        self.unknown_keys(tid, rule, _ALLOWED_KEYS["rule"])
        if "location" not in rule:
            self.report("fatal", tid, f"{where}.location", "is required")
        for prop in ("location", "selector"):
            if prop in rule:
                self.path(tid, f"{where}.{prop}", rule[prop])
        if not any(k in rule for k in ("presence", "any", "all", "none")):
            self.report("must", tid, where, "needs at least one of presence, any, all, none")
        if "presence" in rule and rule["presence"] not in PRESENCE_VALUES:
            self.report(
                "fatal", tid, f"{where}.presence", f"must be one of {', '.join(PRESENCE_VALUES)}"
            )
        for prop in ("any", "all", "none"):
            if prop in rule and not isinstance(rule[prop], list):
                self.report("must", tid, f"{where}.{prop}", "must be an array of values")
        if "scopeNote" in rule:
            self.language_map(tid, f"{where}.scopeNote", rule["scopeNote"])

    def path(self, tid: str, prop: str, text: Any) -> None:
        if not isinstance(text, str):
            self.report("fatal", tid, prop, f"must be a JSONPath string, found {_show(text)}")
            return
        try:
            compiled = compile_path(text)
        except JSONPathError as exc:
            self.report("fatal", tid, prop, f"is not a JSONPath of the allowed subset: {exc}")
            return
        if not compiled.rooted:
            self.report("must", tid, prop, f"{text!r} should start with '$'")

    # --- patterns --------------------------------------------------------------------------

    def pattern(self, pid: str, node: dict[str, Any]) -> None:
        self.type_is(pid, node, ["Pattern"])
        self.unknown_keys(pid, node, _ALLOWED_KEYS["pattern"])
        self.in_scheme(pid, node, required=False)
        self.boolean(pid, node, "primary")
        self.boolean(pid, node, "deprecated")
        primary = node.get("primary") is True
        if primary:
            self.required(pid, node, ["prefLabel", "definition"])
        for prop in ("prefLabel", "definition"):
            if prop in node:
                self.language_map(pid, prop, node[prop])
        kinds = [k for k in PATTERN_KINDS if k in node]
        if len(kinds) != 1:
            self.report(
                "fatal",
                pid,
                "/".join(kinds) or "sequence",
                f"a pattern needs exactly one of {', '.join(PATTERN_KINDS)}",
            )
            return
        kind = kinds[0]
        value = node[kind]
        if kind in ("sequence", "alternates"):
            if not isinstance(value, list) or not all(isinstance(m, str) for m in value):
                self.report("fatal", pid, kind, "must be an array of template or pattern ids")
                return
            members = value
        else:
            if not isinstance(value, str):
                self.report("fatal", pid, kind, "must be one template or pattern id")
                return
            members = [value]
        for member in members:
            if self.set.template_node(member) is None and self.set.pattern_node(member) is None:
                self.report("fatal", pid, kind, f"{member} is not a loaded template or pattern")
        if kind == "alternates":
            if len(members) < 2:
                self.report("must", pid, kind, "needs at least two members")
            for member in members:
                inner = self.set.pattern_node(member)
                if inner and ("optional" in inner or "zeroOrMore" in inner):
                    self.report(
                        "must",
                        pid,
                        kind,
                        f"{member} is optional/zeroOrMore, not allowed in alternates",
                    )
        if kind == "sequence" and len(members) < 2:
            single_ok = (
                primary
                and len(members) == 1
                and self.set.template_node(members[0]) is not None
                and not self.used_in_other_patterns(pid)
            )
            if not single_ok:
                self.report(
                    "must",
                    pid,
                    kind,
                    "needs at least two members (a primary pattern "
                    "not used elsewhere may have one template)",
                )

    def used_in_other_patterns(self, pattern_id: str) -> bool:
        for profile in self.set.profiles:
            for node in profile.patterns.values():
                for kind in PATTERN_KINDS:
                    value = node.get(kind)
                    if value == pattern_id or (isinstance(value, list) and pattern_id in value):
                        return True
        return False

    def check_cycles(self) -> None:
        """Report each pattern that contains itself, at any depth (one finding per cycle)."""
        done: set[str] = set()
        reported: set[frozenset[str]] = set()

        def members(pid: str) -> list[str]:
            node = self.set.pattern_node(pid) or {}
            out: list[str] = []
            for kind in PATTERN_KINDS:
                value = node.get(kind)
                for m in value if isinstance(value, list) else [value]:
                    if isinstance(m, str) and self.set.pattern_node(m) is not None:
                        out.append(m)
            return out

        def visit(pid: str, stack: list[str]) -> None:
            if pid in stack:
                cycle = stack[stack.index(pid) :]
                if frozenset(cycle) not in reported:
                    reported.add(frozenset(cycle))
                    owner = self.set.owner(pid)
                    self.profile = owner
                    self.report(
                        "fatal", pid, "patterns", "pattern cycle: " + " -> ".join([*cycle, pid])
                    )
                    self.profile = None
                return
            if pid in done:
                return
            stack.append(pid)
            for member in members(pid):
                visit(member, stack)
            stack.pop()
            done.add(pid)

        for profile in self.set.profiles:
            for pid in profile.patterns:
                visit(pid, [])


def _is_timestamp(value: Any) -> bool:
    if not isinstance(value, str):
        return False
    try:
        datetime.fromisoformat(value)
    except ValueError:
        return False
    return True


def _show(value: Any) -> str:
    text = json.dumps(value, ensure_ascii=False) if value is not None else "nothing"
    return text if len(text) <= 80 else text[:77] + "..."
