"""Profile documents, the bundled framework and mapping rules, shipped as package data."""
