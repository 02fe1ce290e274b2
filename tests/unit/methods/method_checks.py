"""Checks shared by the method checklists (single-modality and multimodal): no-op at init, what moves, checkpoints."""

import copy
from collections.abc import Callable, Iterable

import torch
from torch import nn

from transrec.methods.base import build_method, prepare_trainable
from transrec.models.blocks import BottleneckBlock, PHMBlock
from transrec.train.checkpoint import load_trainable, trainable_state


def zeroed_up_projections(model: nn.Module) -> nn.Module:
    """A copy of `model` with every adapter's output projection zeroed: structurally the base model again."""
    zeroed = copy.deepcopy(model)
    with torch.no_grad():
        for module in zeroed.modules():
            if isinstance(module, BottleneckBlock):
                module.up.weight.zero_()
            elif isinstance(module, PHMBlock):
                module.up.right.zero_()
    return zeroed


def assert_same(outputs: Iterable[torch.Tensor], expected: Iterable[torch.Tensor]) -> None:
    """Bit-identical tensors, pairwise."""
    for a, b in zip(outputs, expected):
        torch.testing.assert_close(a, b, rtol=0, atol=0)


def assert_only_returned_move(
    model: nn.Module,
    returned: set[int],
    take_step: Callable[[], None],
    may_stay: Callable[[str], bool] = lambda name: False,
) -> None:
    """After `take_step`, every returned parameter moved (unless `may_stay`) and every other one is bit-identical."""
    frozen = {name: p.detach().clone() for name, p in model.named_parameters()}
    model.train()
    take_step()
    for name, p in model.named_parameters():
        changed = not torch.equal(p, frozen[name])
        if id(p) in returned:
            assert changed or may_stay(name), f"{name} was returned but did not move"
        else:
            assert not changed, f"{name} is frozen but changed"


def assert_checkpoint_reapplies(
    model: nn.Module, base: nn.Module, spec: dict, outputs: Callable[[nn.Module], list[torch.Tensor]]
) -> None:
    """The trainable-only state of `model`, loaded onto `base` + the same method (other init), gives its outputs."""
    state = trainable_state(model)
    fresh = copy.deepcopy(base)
    torch.manual_seed(6)  # another init of the new modules: the checkpoint must overwrite all of them
    prepare_trainable(fresh, build_method(spec), [])
    assert set(trainable_state(fresh)) == set(state)
    load_trainable(fresh, state)
    model.eval(), fresh.eval()
    with torch.no_grad():
        assert_same(outputs(model), outputs(fresh))
