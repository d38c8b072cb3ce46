"""RDA: retrieval of open-data images for every class, with pluggable backends.

Mode A (caption matching; ``backend='python' | 'duckdb' | 'spark'``, all exact and equal),
Mode B (embedding kNN), local sources, SWAT/ALOR file formats, leakage guard and the
img2dataset export. See docs/RETRIEVAL.md.
"""

from .base import CaptionTable, Retriever, available_matchers, choose_matcher, get_matcher
from .caption_match import match_captions, synonym_pattern
from .duckdb_match import match_captions_duckdb
from .export import export_for_img2dataset, img2dataset_command
from .importers import (classes_from_metrics, metrics_from_retrieval, most_common_name, read_metrics_json,
                        read_retrieved_list, write_class_frequency_json, write_metrics_json,
                        write_retrieved_count_json, write_retrieved_list)
from .knn import KnnRetriever, knn_retrieve, knn_select
from .leakage import drop_leaking_items, near_duplicate_mask
from .local_sources import from_caption_file, from_image_folder, from_img2dataset, from_webdataset
from .phrases import caption_tokens, class_synonyms_ordered, compile_phrases, fold
from .rda import CaptionRetriever, RetrievedSet, class_queries, retrieve
from .spark_match import match_captions_spark

__all__ = [
    "Retriever", "CaptionRetriever", "KnnRetriever", "RetrievedSet", "CaptionTable",
    "retrieve", "knn_retrieve", "knn_select", "class_queries",
    "match_captions", "match_captions_duckdb", "match_captions_spark", "synonym_pattern",
    "available_matchers", "get_matcher", "choose_matcher",
    "fold", "caption_tokens", "compile_phrases", "class_synonyms_ordered",
    "from_image_folder", "from_caption_file", "from_webdataset", "from_img2dataset",
    "read_retrieved_list", "write_retrieved_list", "read_metrics_json", "write_metrics_json",
    "metrics_from_retrieval", "classes_from_metrics", "most_common_name",
    "write_class_frequency_json", "write_retrieved_count_json",
    "near_duplicate_mask", "drop_leaking_items",
    "export_for_img2dataset", "img2dataset_command",
]
