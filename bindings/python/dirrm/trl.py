"""DIR in Hugging Face TRL: DIRRewardTrainer, TRL's RewardTrainer with the CLUB penalty.

    pip install "./bindings/python[trl]"   (from a dirrm checkout)

    from dirrm.trl import DIRRewardTrainer
    trainer = DIRRewardTrainer(model=model, args=RewardConfig(...), train_dataset=pairs,
                               processing_class=tokenizer)
    trainer.train()

The loss is TRL's own (Bradley-Terry with its margin and centering options) plus DIR's
penalty, dirrm.torch.CLUBPenalty under DIR's policy (dirrm_dir_params: the same lambda,
estimator, clip and cap as dirrm_train), whose estimator q is fitted on every training
batch and whose gradient is capped at the gradient of TRL's loss on the score head's input.
What the penalty reads:

- the hidden state: by default the input of the model's score head, one vector per
  sequence: for a decoder (a head named ``score``, as in *ForSequenceClassification of
  Llama, Qwen, GPT-2, ...) at the token the head reads, the last one whose id is not the
  model's pad_token_id (with TRL's EOS padding, the token before the EOS), for an encoder (a head named
  ``classifier``, BERT, RoBERTa, ...) what the head reads (BERT's pooled output) or
  position 0; pass ``hidden_fn`` to choose another;
- the bias: by default the length gap len(chosen) - len(rejected) in tokens, from the
  attention masks (1[gap > 0] for a categorical estimator); pass ``bias_fn`` (it can read extra dataset columns when
  ``remove_unused_columns=False`` and a collator that keeps them).

q (weights and AdamW state) is saved as ``dirrm_club.pt`` in every checkpoint and in
``save_model``'s folder, and restored by ``train(resume_from_checkpoint=...)``. The mean
bound of the logged steps is logged as ``club_mi`` next to TRL's metrics.

Multi-process (``accelerate launch`` or ``torchrun``): the penalty fits q on the all-gathered
pairs of every process and uses the all-reduced bias statistics (see dirrm.torch), so q is
identical everywhere and the penalty's gradient after DDP's averaging is exactly that of the
global batch, also for uneven last batches. TRL's Bradley-Terry term is each process's mean,
which averages to the global mean when every process has the same batch size (accelerate's
default ``even_batches``).

TRL's surface used: RewardTrainer's compute_loss, log, train, save_model and
get_train_dataloader, all public, and one private method, the Trainer's
_remove_unused_columns (PromptFreeRewardTrainer's data loader): the reason
bindings/python/pyproject.toml pins the TRL versions tested (scripts/install-test.sh runs the
TRL tests against the oldest).
"""

from __future__ import annotations

# The three concepts live in their own modules; this one is their public path.
from ._trl_audit import audit_model
from ._trl_prompt_free import PromptFreeRewardTrainer
from ._trl_reward import CLUB_FILE, BiasFn, DIRRewardTrainer, HiddenFn, _score_head, default_bias, default_hidden

__all__ = ["DIRRewardTrainer", "PromptFreeRewardTrainer", "audit_model", "CLUB_FILE", "default_bias",
           "default_hidden", "HiddenFn", "BiasFn"]
