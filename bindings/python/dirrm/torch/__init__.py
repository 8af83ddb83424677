"""PyTorch integration: DIR's loss terms as nn.Modules and prompt-free prioritization as a
DataLoader batch sampler.

    import dirrm.torch
    penalty = dirrm.torch.CLUBPenalty(hidden_dim=d)          # DIR's penalty, DIR's policy
    loss = my_loss + penalty(h_chosen, h_rejected, bias, pref=my_loss)   # pref: for the cap
    # or, Bradley-Terry and the penalty in one module:
    dir_loss = dirrm.torch.DIRLoss(hidden_dim=d)
    loss = dir_loss(r_chosen, r_rejected, h_chosen, h_rejected, bias)
    loss.backward()

Every module computes with the library in float32 on the host and hands torch the gradients
in each input's dtype and on its device (CPU or CUDA; float16, bfloat16, float32, float64);
the loss of half-precision inputs is float32, so a loss scaler's 2^16 does not overflow it.
The estimator q is module state: it is trained by the library's own AdamW (never by your
optimizer, so it is not in parameters()), and its weights and AdamW moments are saved in
state_dict() and restored by load_state_dict().

Data parallel (torch.distributed initialized, or a process_group given): CLUBPenalty fits q
on the all-gathered pairs of every rank, so q is the same on every rank, and uses the
all-reduced bias statistics; the value it returns is the bound of the global batch, and its
gradient is scaled so that after DDP's gradient averaging (sum over ranks / world size) the
update equals single-process training on the concatenation of the ranks' batches in rank
order, for equal and uneven shards. BTLoss does the same for the Bradley-Terry term.

One concept per module: _tensors (tensors to and from the library, the autograd bridge),
_distributed (the process group), club_penalty (CLUBPenalty), cap (cap_scale, the preference gradient), losses (BTLoss,
DIRLoss), scoring (prompt_free_score_fn), sampler (PromptFreeBatchSampler). Inside this
package `import torch` is PyTorch: imports are absolute, and the package is dirrm.torch.
"""

from __future__ import annotations

from dirrm.torch.cap import cap_scale
from dirrm.torch.club_penalty import CLUBPenalty
from dirrm.torch.losses import BTLoss, DIRLoss
from dirrm.torch.sampler import PromptFreeBatchSampler
from dirrm.torch.scoring import prompt_free_score_fn

__all__ = ["CLUBPenalty", "BTLoss", "DIRLoss", "PromptFreeBatchSampler", "prompt_free_score_fn", "cap_scale"]
