"""dirrm: information-theoretic debiasing for reward models (Python binding of libdirrm).

Every failing library call raises DirrmError, carrying the status code and the message.
"""

import json

from ._lib import DirrmError, check_call, lib, library_path
from .club import Club, DirLoss, dir_loss
from .loss import bt_loss
from .model import Dataset, RewardModel, synth
from .prompt_free import Prioritizer, PromptFreeGap, cluster_threshold, prompt_free_gap, sample_prompts

__version__ = lib.dirrm_version_string().decode()

__all__ = [
    "DirrmError",
    "bt_loss",
    "Dataset",
    "synth",
    "RewardModel",
    "Club",
    "dir_loss",
    "DirLoss",
    "prompt_free_gap",
    "PromptFreeGap",
    "sample_prompts",
    "cluster_threshold",
    "Prioritizer",
    "build_info", "set_num_threads", "library_path"]


def build_info():
    """The library's build description (version, BLAS, threads, compiler) as a dict."""
    return json.loads(lib.dirrm_build_info().decode())


def set_num_threads(num_threads):
    """Sets the BLAS thread count (process-wide)."""
    check_call(lib.dirrm_set_num_threads(int(num_threads)))
