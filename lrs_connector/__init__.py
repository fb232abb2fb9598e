"""Competency readiness from xAPI statements: receive, map, score, push to the LMS."""

__version__ = "0.1.0"
