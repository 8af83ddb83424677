"""Issue 21 #3: resuming a checkpoint never runs code from it. The prompt-free sampler's state
is tensors and numbers, loaded with torch.load(weights_only=True); a crafted pickle raises."""

import os

import pytest

torch = pytest.importorskip("torch")
pytest.importorskip("trl", reason="TRL is not installed (scripts/setup.sh installs it when pip can)")

from test_dir_policy import tiny_gpt2_trainer  # noqa: E402


class Payload:
    """Unpickling this creates a file: proof that code ran."""

    def __init__(self, marker: str) -> None:
        self.marker = marker

    def __reduce__(self):
        return (open, (self.marker, "w"))


def test_a_malicious_sampler_state_raises_instead_of_running(tmp_path):
    from dirrm.trl import PromptFreeRewardTrainer

    trainer = tiny_gpt2_trainer(tmp_path / "out", PromptFreeRewardTrainer)
    honest = tmp_path / "honest"
    trainer.save_model(str(honest))
    trainer._restore(str(honest))   # its own state loads
    checkpoint = tmp_path / "checkpoint-1"
    checkpoint.mkdir()
    marker = tmp_path / "pwned"
    torch.save({"prioritizer": Payload(str(marker))}, checkpoint / "dirrm_sampler_rank0.pt")
    with pytest.raises(Exception, match="(?i)weights_only|unpickl|global"):
        trainer._restore(str(checkpoint))
    assert not os.path.exists(marker)
