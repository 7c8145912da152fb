"""Shared parts of the knowledge base: the declared schema and vocabularies, file parsing,
validation and the `kb` command."""
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
