"""Small residual blocks shared by the adapter methods and IISAN: bottleneck, PHM (Compacter) and low-rank."""

from __future__ import annotations

import math

import torch
from torch import Tensor, nn

INIT_STD = 1e-2  # PROTOCOL.md §Methods: adapter weights N(0, 1e-2), zero bias
ACTIVATIONS = {"relu": nn.ReLU, "gelu": nn.GELU, "silu": nn.SiLU, "tanh": nn.Tanh, "identity": nn.Identity}


def activation_module(name: str) -> nn.Module:
    """An activation by name (relu, gelu, silu, tanh, identity); unknown names raise naming the choices."""
    if name not in ACTIVATIONS:
        raise ValueError(f"unknown activation {name!r}; known: {sorted(ACTIVATIONS)}")
    return ACTIVATIONS[name]()


def _small_linear(d_in: int, d_out: int, bias: bool = True) -> nn.Linear:
    """Linear with N(0, 1e-2) weights and a zero bias: the block starts close to the identity."""
    layer = nn.Linear(d_in, d_out, bias=bias)
    nn.init.normal_(layer.weight, std=INIT_STD)
    if bias:
        nn.init.zeros_(layer.bias)
    return layer


class BottleneckBlock(nn.Module):
    """x + up(act(down(x))): down d->r, activation, up r->d (Houlsby et al., 2019)."""

    def __init__(self, d: int, r: int, activation: str = "relu"):
        super().__init__()
        if d < 1 or r < 1:
            raise ValueError(f"BottleneckBlock needs d >= 1 and r >= 1, got d={d}, r={r}")
        self.down = _small_linear(d, r)
        self.activation = activation_module(activation)
        self.up = _small_linear(r, d)

    def forward(self, x: Tensor) -> Tensor:
        """x (..., d) -> (..., d)."""
        return x + self.delta(x)

    def delta(self, x: Tensor) -> Tensor:
        """The block without its skip: x (..., d) -> up(act(down(x))) (..., d); parallel adapters add this."""
        return self.up(self.activation(self.down(x)))


def phm_rules(n: int = 4) -> nn.Parameter:
    """A fresh set of n rule matrices (n, n, n), to be shared by every PHMLinear of a model (Compacter)."""
    rules = torch.empty(n, n, n)
    for i in range(n):
        nn.init.xavier_uniform_(rules[i])
    return nn.Parameter(rules)


class PHMLinear(nn.Module):
    """Parameterised hypercomplex linear layer: W = sum_i A_i kron (s_i t_i^T), rank-1 slow weights (Compacter)."""

    def __init__(self, in_features: int, out_features: int, n: int = 4, rule: nn.Parameter | None = None):
        super().__init__()
        if in_features % n or out_features % n:
            raise ValueError(f"PHMLinear: in={in_features} and out={out_features} must be divisible by n={n}")
        if rule is not None and tuple(rule.shape) != (n, n, n):
            raise ValueError(f"PHMLinear: rule matrices must have shape {(n, n, n)}, got {tuple(rule.shape)}")
        self.n = n
        self.in_features = in_features
        self.out_features = out_features
        # a shared rule is registered in every layer that uses it; parameters() de-duplicates shared tensors
        self.rule = rule if rule is not None else phm_rules(n)
        self.left = nn.Parameter(torch.randn(n, in_features // n, 1) * math.sqrt(INIT_STD))  # s_i (n, in/n, 1)
        self.right = nn.Parameter(torch.randn(n, 1, out_features // n) * math.sqrt(INIT_STD))  # t_i (n, 1, out/n)
        self.bias = nn.Parameter(torch.zeros(out_features))

    def weight(self) -> Tensor:
        """The full (in, out) weight: kron(A_i, s_i t_i^T) summed over i."""
        slow = self.left @ self.right  # (n, in/n, out/n)
        n, p, q = slow.shape
        return torch.einsum("ijk,ixy->jxky", self.rule, slow).reshape(n * p, n * q)  # (in, out)

    def forward(self, x: Tensor) -> Tensor:
        """x (..., in) -> (..., out)."""
        return x @ self.weight().to(x.dtype) + self.bias.to(x.dtype)


class PHMBlock(nn.Module):
    """x + PHM_up(GELU(PHM_down(x))): the Compacter adapter, with the skip the reference code forgets."""

    def __init__(self, d: int, r: int, n: int = 4, rules: nn.Parameter | None = None):
        super().__init__()
        rules = rules if rules is not None else phm_rules(n)
        self.down = PHMLinear(d, r, n, rules)
        self.activation = nn.GELU()
        self.up = PHMLinear(r, d, n, rules)

    def forward(self, x: Tensor) -> Tensor:
        """x (..., d) -> (..., d)."""
        return x + self.delta(x)

    def delta(self, x: Tensor) -> Tensor:
        """The block without its skip (..., d)."""
        return self.up(self.activation(self.down(x)))


class LowRankBlock(nn.Module):
    """x + up(down(x)): a d->d linear map through rank r (no activation), N(0, 1e-2) weights, zero bias."""

    def __init__(self, d: int, r: int):
        super().__init__()
        if d < 1 or r < 1:
            raise ValueError(f"LowRankBlock needs d >= 1 and r >= 1, got d={d}, r={r}")
        self.down = _small_linear(d, r, bias=False)
        self.up = _small_linear(r, d)

    def forward(self, x: Tensor) -> Tensor:
        """x (..., d) -> (..., d)."""
        return x + self.delta(x)

    def delta(self, x: Tensor) -> Tensor:
        """The block without its skip (..., d)."""
        return self.up(self.down(x))


def bottleneck_parameter_count(d: int, r: int) -> int:
    """Closed form of BottleneckBlock: d*r + r + r*d + d."""
    return d * r + r + r * d + d


def phm_parameter_count(d: int, r: int, n: int = 4) -> int:
    """Closed form of one PHMBlock without its (shared) rules: two rank-1 PHM layers with biases."""
    return n * (d // n + r // n) + r + n * (r // n + d // n) + d
