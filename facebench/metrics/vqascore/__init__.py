"""VQAScore (Lin et al., ECCV 2024), implemented in facebench: the reference package t2v-metrics
cannot be installed beside current torch/transformers. See ``metric.py`` for the arguments and
``clip_flant5.py`` / ``hf_vlm.py`` / ``openai_scorer.py`` for the scorers."""
from facebench.metrics.vqascore.metric import SCORERS, VQAScore, make_scorer

__all__ = ["SCORERS", "VQAScore", "make_scorer"]
