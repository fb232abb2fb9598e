"""xAPI Profiles 1.0: load and check profile documents, match statement templates and patterns.

Start with :class:`ProfileSet` (several loaded profiles that can refer to each other) and
:func:`check`; docs/profiles.md explains the model and the choices made where the spec is
ambiguous. Everything here is pure domain code (no Flask, no SQL).
"""

from lrs_connector.profiles.checking import BASE_VOCABULARY, Finding, check, has_errors
from lrs_connector.profiles.documents import (
    Profile,
    ProfileError,
    load_bundled,
    load_profile,
    load_profiles,
    profile_from_document,
)
from lrs_connector.profiles.jsonpath import CompiledPath, JSONPathError, compile_path
from lrs_connector.profiles.patterns import (
    MATCH,
    NO_MATCH,
    PARTIAL,
    CompiledPattern,
    PatternResult,
    match_pattern,
)
from lrs_connector.profiles.profileset import ProfileSet, StatementMatch
from lrs_connector.profiles.templates import (
    INVALID,
    SUCCESS,
    UNMATCHED,
    CompiledTemplate,
    Reason,
    TemplateResult,
    compile_template,
)

__all__ = [
    "BASE_VOCABULARY",
    "INVALID",
    "MATCH",
    "NO_MATCH",
    "PARTIAL",
    "SUCCESS",
    "UNMATCHED",
    "CompiledPath",
    "CompiledPattern",
    "CompiledTemplate",
    "Finding",
    "JSONPathError",
    "PatternResult",
    "Profile",
    "ProfileError",
    "ProfileSet",
    "Reason",
    "StatementMatch",
    "TemplateResult",
    "check",
    "compile_path",
    "compile_template",
    "has_errors",
    "load_bundled",
    "load_profile",
    "load_profiles",
    "match_pattern",
    "profile_from_document",
]
