"""The context rules are compiled in: the bundled profiles, the bundled framework, the
bundled rules.

Rules may only name templates of loaded profiles and targets of the framework in force
(store/frameworks.py: the bundled framework unless another is imported).
"""

from __future__ import annotations

import functools
import importlib.resources
import json

from lrs_connector.profiles import ProfileSet, load_profile

BUNDLED_FILE = "mappings/lnd-leadership.yaml"
BUNDLED_SOURCE = f"xapi_profiles/{BUNDLED_FILE}"


@functools.cache
def profiles() -> ProfileSet:
    """The bundled xAPI Profiles (the ``*.jsonld`` documents of ``xapi_profiles/``; other
    package data there, such as the framework document, is not a profile)."""
    root = importlib.resources.files("xapi_profiles")
    entries = sorted(
        (e for e in root.iterdir() if e.is_file() and e.name.endswith(".jsonld")),
        key=lambda e: e.name,
    )
    return ProfileSet(load_profile(json.loads(e.read_text("utf-8"))) for e in entries)


@functools.cache
def framework():
    from lrs_connector.frameworks.documents import load_bundled

    return load_bundled()


def known_targets() -> frozenset[str]:
    """IRIs rules may point at: the framework's competencies and dimensions."""
    found = framework()
    return frozenset([*found.competencies, *found.dimensions])


def bundled_text() -> str:
    return importlib.resources.files("xapi_profiles").joinpath(BUNDLED_FILE).read_text("utf-8")
