"""dirrm's trainer written in torch (benchmarks/bench.py's trainer rows): its reward model, its
Gaussian q and its DIR step, loaded from dirrm's own parameters so both take the same steps."""

import math

import numpy as np
import torch

from bench_refs import load_flat


def model_parameters(model):
    """A dirrm.RewardModel's flat parameters (W1, b1, P, Q, (Wl, bl)..., v, c), read from its
    serialized form: an 8-byte magic, a u32 version, a u64 payload size, four u64 dimensions,
    the float32 parameters, a u64 checksum."""
    data = model.save()
    return np.frombuffer(data, "<f4", offset=8 + 4 + 8 + 32, count=(len(data) - 52 - 8) // 4).copy()


class TorchRewardModel(torch.nn.Module):
    """dirrm's reward model (dirrm.h): h1 = relu(W1 [x; y] + b1 + (P x) * (Q y)),
    hl = relu(Wl h(l-1) + bl), r = v . h + c; loaded from dirrm's flat parameters."""

    def __init__(self, flat, prompt_dim, response_dim, width, depth):
        super().__init__()
        shapes = [(width, prompt_dim + response_dim), (width,), (width, prompt_dim), (width, response_dim)]
        shapes += [(width, width), (width,)] * (depth - 1) + [(width,), (1,)]
        offset, params = 0, []
        for shape in shapes:
            count = math.prod(shape)
            params.append(torch.nn.Parameter(torch.tensor(flat[offset: offset + count]).reshape(shape)))
            offset += count
        assert offset == len(flat), (offset, len(flat))
        self.params = torch.nn.ParameterList(params)
        self.depth = depth

    def flat(self):
        return np.concatenate([p.detach().numpy().ravel() for p in self.params])

    def forward(self, x, y):
        w1, b1, p, q = self.params[:4]
        h = torch.relu(torch.cat([x, y], 1) @ w1.t() + b1 + (x @ p.t()) * (y @ q.t()))
        for layer in range(self.depth - 1):
            w, b = self.params[4 + 2 * layer], self.params[5 + 2 * layer]
            h = torch.relu(h @ w.t() + b)
        v, c = self.params[-2], self.params[-1]
        return h @ v + c, h


class TorchGaussianQ(torch.nn.Module):
    """DIR's Gaussian q(b | X) as the trainer's default (dirrm.h, GaussianHead): a mean and a
    log-variance network, each one ReLU layer of q_hidden / 2, the log-variance bounded as
    B tanh(z / B); loaded from dirrm.Club's flat weights (torch.nn.Linear order)."""

    def __init__(self, flat, d, q_hidden, logvar_bound=5.0):
        super().__init__()
        half = q_hidden // 2
        self.mean = torch.nn.Sequential(torch.nn.Linear(d, half), torch.nn.ReLU(), torch.nn.Linear(half, 1))
        self.logvar = torch.nn.Sequential(torch.nn.Linear(d, half), torch.nn.ReLU(), torch.nn.Linear(half, 1))
        self.bound_b = logvar_bound
        load_flat(self, flat)

    def moments(self, x):
        return self.mean(x)[:, 0], self.bound_b * torch.tanh(self.logvar(x)[:, 0] / self.bound_b)

    def nll(self, x, z):
        mu, v = self.moments(x)
        return ((z - mu) ** 2 * torch.exp(-v) / 2 + v / 2).mean() + 0.5 * math.log(2 * math.pi)

    def bound(self, x, z):
        """CLUB's closed form: mean_i [log q(z_i|X_i) - mean_j log q(z_j|X_i)]."""
        mu, v = self.moments(x)
        m1, m2 = z.mean(), (z * z).mean()
        spread = m2 - 2 * mu * m1 + mu * mu
        return -(((z - mu) ** 2 - spread) * torch.exp(-v) / 2).mean()


class RunningStandardization:
    """dirrm's map z = (b - mean) / std of every bias q was fit on (Chan's merge)."""

    def __init__(self):
        self.count, self.mean, self.deviations = 0.0, 0.0, 0.0

    def merge(self, b):
        nb, batch_mean = float(len(b)), float(b.double().mean())
        batch_dev = float(((b.double() - batch_mean) ** 2).sum())
        total = self.count + nb
        delta = batch_mean - self.mean
        self.mean += delta * nb / total
        self.deviations += batch_dev + delta * delta * self.count * nb / total
        self.count = total

    def apply(self, b):
        variance = self.deviations / self.count if self.count > 0 else 0.0
        scale = math.sqrt(variance) if variance > 0 else 1.0
        return ((b.double() - self.mean) / scale).float()


class TorchTrainer:
    """What dirrm_train does, in torch: each step scores the batch's chosen and rejected rows in
    one forward, takes Bradley-Terry's mean softplus; with DIR, fits q (fit_steps AdamW steps on
    its NLL, X = h_chosen - h_rejected held fixed, the bias standardized by its running map),
    adds lam * max(bound, 0)'s gradient on the hidden states, capped at the norm of the
    preference loss's (dirrm's rule, docs/decisions.md); then one AdamW step of the model."""

    def __init__(self, data, model_flat, shape, method, q_flat=None, q_hidden=64, lr=1e-3, weight_decay=0.01,
                 lam=1.0, q_lr=1e-4, q_weight_decay=0.01, fit_steps=5, batch_size=64, seed=0):
        self.prompts = torch.tensor(data["prompts"])
        self.responses = torch.tensor(data["responses"])
        self.pairs = torch.tensor(data["pairs"])
        self.bias = torch.tensor(data["bias"])
        self.model = TorchRewardModel(model_flat, *shape)
        self.optimizer = torch.optim.AdamW(self.model.parameters(), lr=lr, weight_decay=weight_decay)
        self.dir = method == "dir"
        if self.dir:
            self.q = TorchGaussianQ(q_flat, shape[2], q_hidden)
            self.q_optimizer = torch.optim.AdamW(self.q.parameters(), lr=q_lr, weight_decay=q_weight_decay)
            self.z = RunningStandardization()
        self.lam, self.fit_steps, self.batch_size = lam, fit_steps, batch_size
        self.generator = torch.Generator().manual_seed(seed)

    def step(self, index):
        """One training step on the pairs `index`; returns (preference loss, bound or nan)."""
        n = len(index)
        p, c, r = self.pairs[index].unbind(1)
        x = self.prompts[p]
        rewards, h = self.model(torch.cat([x, x]), self.responses[torch.cat([c, r])])
        gap = rewards[:n] - rewards[n:]
        loss = torch.nn.functional.softplus(-gap).mean()
        self.optimizer.zero_grad()
        if not self.dir:
            loss.backward()
            self.optimizer.step()
            return loss.item(), math.nan
        b = self.bias[index]
        self.z.merge(b)
        z = self.z.apply(b)
        x_fixed = (h[:n] - h[n:]).detach()
        for _ in range(self.fit_steps):
            self.q_optimizer.zero_grad()
            self.q.nll(x_fixed, z).backward()
            self.q_optimizer.step()
        hd = h.detach().requires_grad_(True)
        bound = self.q.bound(hd[:n] - hd[n:], z)
        (penalty,) = torch.autograd.grad(bound, hd)
        penalty = penalty * (self.lam if bound.item() > 0 else 0.0)
        # The cap: the preference loss's gradient on h is dL/dr times the head's weights v.
        with torch.no_grad():
            s = torch.sigmoid(-gap)
            limit = math.sqrt(2 * float((s.double() ** 2).sum())) / n * float(self.model.params[-2].double().norm())
            norm = float(penalty.double().norm())
            if norm > limit:
                penalty = penalty * (limit / norm)
        torch.autograd.backward([loss, h], [torch.ones(()), penalty])
        self.optimizer.step()
        return loss.item(), bound.item()

    def epoch(self):
        order = torch.randperm(len(self.pairs), generator=self.generator)
        for start in range(0, len(order), self.batch_size):
            self.step(order[start: start + self.batch_size])

    def accuracy(self, data):
        pairs = torch.tensor(data["pairs"])
        x = torch.tensor(data["prompts"])[pairs[:, 0]]
        responses = torch.tensor(data["responses"])
        with torch.no_grad():
            chosen, _ = self.model(x, responses[pairs[:, 1]])
            rejected, _ = self.model(x, responses[pairs[:, 2]])
        return float((chosen > rejected).float().mean())
