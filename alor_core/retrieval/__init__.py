"""RDA: retrieval of open-data images for every class (first backend: caption matching)."""

from .caption_match import match_captions, synonym_pattern
from .rda import RetrievedSet, class_queries, retrieve

__all__ = ["match_captions", "synonym_pattern", "RetrievedSet", "class_queries", "retrieve"]
