"""Retrieval: nearest-neighbour search, VSE++ metrics, semantic metrics, diagnostics."""
from .diagnostics import modality_gap
from .index import ExactIndex, FaissIndex, Index, faiss_available, make_index
from .metrics import (
    evaluate_coco,
    evaluate_embeddings,
    gt_mask_i2t,
    gt_mask_t2i,
    i2t_ranks,
    i2t_topk,
    recall_summary,
    t2i_ranks,
    t2i_topk,
    topk,
)
from .semantic import (
    DEFAULT_THRESHOLDS,
    SemanticRelevance,
    SentenceEmbedder,
    WordVectorSentenceEmbedder,
    caption_relevance,
    failed_but_related,
    ideal_relevances,
    label_results,
    load_minilm_embedder,
    ncs_at_k,
    relevance_i2t,
    relevance_t2i,
    semantic_evaluate,
    semantic_recall_at_k,
)

__all__ = [
    "Index", "ExactIndex", "FaissIndex", "make_index", "faiss_available",
    "i2t_ranks", "t2i_ranks", "recall_summary", "evaluate_embeddings", "evaluate_coco",
    "topk", "i2t_topk", "t2i_topk", "gt_mask_i2t", "gt_mask_t2i",
    "SentenceEmbedder", "WordVectorSentenceEmbedder", "load_minilm_embedder", "DEFAULT_THRESHOLDS",
    "SemanticRelevance", "caption_relevance", "relevance_i2t", "relevance_t2i", "ideal_relevances",
    "ncs_at_k", "semantic_recall_at_k", "semantic_evaluate", "label_results", "failed_but_related",
    "modality_gap",
]
