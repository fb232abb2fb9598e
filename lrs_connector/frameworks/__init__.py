"""Competency frameworks: the model, the native JSON document, 1EdTech CASE exchange."""

from lrs_connector.frameworks.model import (
    Competency,
    Dimension,
    Framework,
    FrameworkError,
    Link,
    ProficiencyLevel,
    Requirement,
    Role,
)

__all__ = [
    "Competency",
    "Dimension",
    "Framework",
    "FrameworkError",
    "Link",
    "ProficiencyLevel",
    "Requirement",
    "Role",
]
