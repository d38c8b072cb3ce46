"""RDA: retrieval of open-data images for every class, with pluggable backends.

Mode A (caption matching; ``backend='python' | 'duckdb' | 'spark'``, all exact and equal),
Mode B (embedding kNN), local sources, SWAT/ALOR file formats, leakage guard and the
img2dataset export. See docs/RETRIEVAL.md.

Names are imported lazily (PEP 562), so a caption-matching process does not load torch.
"""

import importlib

_EXPORTS = {
    "base": ["CaptionTable", "Retriever", "available_matchers", "choose_matcher", "get_matcher"],
    "caption_match": ["match_captions", "synonym_pattern"],
    "duckdb_match": ["match_captions_duckdb"],
    "spark_match": ["match_captions_spark"],
    "export": ["export_for_img2dataset", "img2dataset_command"],
    "importers": [
        "classes_from_metrics",
        "metrics_from_retrieval",
        "most_common_name",
        "read_metrics_json",
        "read_retrieved_list",
        "write_class_frequency_json",
        "write_metrics_json",
        "write_retrieved_count_json",
        "write_retrieved_list",
    ],
    "knn": ["KnnRetriever", "knn_retrieve", "knn_select"],
    "leakage": ["drop_leaking_items", "near_duplicate_mask"],
    "local_sources": [
        "as_captions_table",
        "from_caption_file",
        "from_image_folder",
        "from_img2dataset",
        "from_webdataset",
    ],
    "phrases": ["caption_tokens", "class_synonyms_ordered", "compile_phrases", "fold"],
    "rda": ["CaptionRetriever", "RetrievedSet", "class_queries", "retrieve"],
}
_WHERE = {name: module for module, names in _EXPORTS.items() for name in names}

__all__ = sorted(_WHERE)


def __getattr__(name):
    if name not in _WHERE:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(importlib.import_module(f".{_WHERE[name]}", __name__), name)
    globals()[name] = value
    return value


def __dir__():
    return sorted(set(globals()) | set(__all__))
