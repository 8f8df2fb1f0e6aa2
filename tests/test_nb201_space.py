"""The NAS-Bench-201 cell space: encoding, validation, disconnected cells, the standard network."""

from __future__ import annotations

import itertools

import numpy as np
import pytest
import torch
from torch import nn

from search_spaces import InvalidArchitectureError, NB201Arch, NB201Space
from search_spaces.nb201 import EDGES, NONE

torch.set_num_threads(1)

SPACE = NB201Space()


def n_params(model: nn.Module) -> int:
    return sum(p.numel() for p in model.parameters())


# --- the space --------------------------------------------------------------------------
def test_size_and_enumeration() -> None:
    archs = SPACE.all_architectures()
    assert SPACE.size() == 15_625 == len(archs) == len(set(archs))
    assert archs[0] == NB201Arch((0,) * 6) and archs[-1] == NB201Arch((4,) * 6)
    assert archs[1] == NB201Arch((0, 0, 0, 0, 0, 1))  # NASLib tuple order: last edge fastest
    assert all(SPACE.validate(a) == a for a in archs[::97])


def test_nb201_string() -> None:
    arch = NB201Arch((2, 3, 0, 4, 1, 2))  # edges (1,2) (1,3) (1,4) (2,3) (2,4) (3,4)
    assert arch.to_nb201_string() == (
        "|nor_conv_3x3~0|+|nor_conv_1x1~0|avg_pool_3x3~1|+|skip_connect~0|none~1|nor_conv_3x3~2|"
    )


# --- disconnected cells -----------------------------------------------------------------
@pytest.mark.parametrize(
    "ops, disconnected",
    [
        ((1, 1, 1, 1, 1, 1), True),  # all none
        ((1, 1, 2, 1, 1, 1), False),  # direct edge 1->4
        ((0, 1, 1, 1, 3, 1), False),  # 1->2->4
        ((1, 4, 1, 1, 1, 2), False),  # 1->3->4
        ((2, 1, 1, 0, 1, 3), False),  # 1->2->3->4
        ((2, 2, 1, 2, 1, 1), True),  # nothing enters node 4
        ((1, 1, 1, 2, 2, 2), True),  # node 4 fed only from nodes 1 cannot reach
        ((2, 1, 1, 1, 1, 2), True),  # 1->2 and 3->4 but no 2->3
    ],
)
def test_is_disconnected_cases(ops, disconnected: bool) -> None:
    assert NB201Space.is_disconnected(NB201Arch(ops)) is disconnected


def test_is_disconnected_matches_path_enumeration() -> None:
    # The four input-to-output paths of the 4-node DAG, checked independently of the code.
    paths = [[(1, 4)], [(1, 2), (2, 4)], [(1, 3), (3, 4)], [(1, 2), (2, 3), (3, 4)]]
    count = 0
    for arch in SPACE.all_architectures():
        op = dict(zip(EDGES, arch.ops))
        connected = any(all(op[e] != NONE for e in path) for path in paths)
        assert SPACE.is_disconnected(arch) is (not connected)
        count += not connected
    assert 0 < count < 15_625


def test_disconnected_cell_outputs_zero_features() -> None:
    arch = NB201Arch((2, 2, 1, 2, 1, 1))
    model = NB201Space(channels=4, cells_per_stage=1).build(arch, (1, 8, 8), 5).eval()
    cell = model.cells[0]
    with torch.no_grad():
        assert torch.count_nonzero(cell(torch.randn(2, 4, 8, 8))) == 0


# --- validation -------------------------------------------------------------------------
@pytest.mark.parametrize(
    "d, message",
    [
        ({"ops": "222222"}, "ops='222222'"),
        ({"ops": [2, 2, 2, 2, 2]}, "ops=[2, 2, 2, 2, 2]"),
        ({"ops": [2, 2, 2, 2, 2, 2, 2]}, "expected a list of 6"),
        ({"ops": [2, 2, 5, 2, 2, 2]}, "ops[edge (1,4)]=5"),
        ({"ops": [2, 2, 2, 2, 2, -1]}, "ops[edge (3,4)]=-1"),
        ({"ops": [2, "2", 2, 2, 2, 2]}, "ops[edge (1,3)]='2'"),
        ({"ops": [2, 2, 2, 2.0, 2, 2]}, "ops[edge (2,3)]=2.0"),
        ({"ops": [2, 2, 2, 2, True, 2]}, "ops[edge (2,4)]=True"),
        ({"ops": [2] * 6, "C": 16}, "unknown key(s) ['C']"),
        ({}, "missing key(s) ['ops']"),
        ({"cell": [2] * 6}, "missing key(s) ['ops']"),
    ],
)
def test_malformed_dicts_name_the_field(d: dict, message: str) -> None:
    with pytest.raises(InvalidArchitectureError) as info:
        SPACE.from_dict(d)
    assert message in str(info.value)


def test_out_of_range_message_says_what_is_allowed() -> None:
    with pytest.raises(InvalidArchitectureError, match=r"allowed values: \[0, 1, 2, 3, 4\]"):
        SPACE.from_dict({"ops": [9] * 6})


def test_tuple_ops_are_accepted() -> None:
    assert SPACE.from_dict({"ops": (0, 1, 2, 3, 4, 0)}) == NB201Arch((0, 1, 2, 3, 4, 0))


@pytest.mark.parametrize("kwargs", [{"channels": 0}, {"cells_per_stage": 0}])
def test_bad_settings_are_rejected(kwargs) -> None:
    with pytest.raises(ValueError, match=next(iter(kwargs))):
        NB201Space(**kwargs)


# --- sampling, mutation, crossover ------------------------------------------------------
def test_sampling_covers_every_operation_on_every_edge() -> None:
    ops = np.array([a.ops for a in SPACE.sample_many(500, 0)])
    for edge in range(6):
        assert set(ops[:, edge]) == {0, 1, 2, 3, 4}


def test_capped_sampling() -> None:
    cap = 200_000  # below about half the cells (those with few convolutions)
    archs = SPACE.sample_many(200, 1, max_params=cap)
    assert all(SPACE.num_params(a) < cap for a in archs)
    with pytest.raises(ValueError, match="max_params"):
        SPACE.sample(0, max_params=1_000)


def test_mutation_changes_exactly_one_edge() -> None:
    for seed in range(300):
        parent = SPACE.sample(seed)
        child = SPACE.mutate(parent, seed)
        assert sum(x != y for x, y in zip(parent.ops, child.ops)) == 1


def test_crossover_takes_each_edge_from_a_parent() -> None:
    a, b = NB201Arch((0,) * 6), NB201Arch((2,) * 6)
    children = [SPACE.crossover(a, b, seed) for seed in range(100)]
    assert all(set(c.ops) <= {0, 2} for c in children)
    assert len(set(children)) > 20


# --- the standard network ---------------------------------------------------------------
def test_param_counts_match_nas_bench_201() -> None:
    # NAS-Bench-201 lists 1.531546 M parameters for the all-conv3x3 cell on CIFAR-10 and
    # 0.073306 M for cells without convolutions.
    assert SPACE.num_params(NB201Arch((2,) * 6)) == 1_531_546
    assert SPACE.num_params(NB201Arch((0,) * 6)) == 73_306
    assert SPACE.num_params(NB201Arch((1,) * 6)) == 73_306


@pytest.mark.parametrize("ops", [(2,) * 6, (3, 0, 2, 1, 4, 3), (0, 1, 4, 0, 1, 4)])
def test_standard_network_matches_counts_and_shapes(ops) -> None:
    arch = NB201Arch(ops)
    model = SPACE.build(arch, (3, 32, 32), 10)
    assert n_params(model) == SPACE.num_params(arch)
    convs = [m for m in model.modules() if isinstance(m, nn.Conv2d)]
    linears = [m for m in model.modules() if isinstance(m, nn.Linear)]
    n_cell_convs = sum(o in (2, 3) for o in ops)
    assert len(convs) == 1 + 3 * 5 * n_cell_convs + 2 * 3  # stem, cells, two reduction blocks
    assert len(linears) == 1 and linears[0].in_features == 64
    assert len(SPACE.layer_shapes(arch)) == len(convs) + 1


def test_standard_network_on_fashion_mnist_shape() -> None:
    model = SPACE.build(NB201Arch((2, 3, 0, 4, 2, 3)), (1, 28, 28), 10).eval()
    with torch.no_grad():
        assert model(torch.randn(2, 1, 28, 28)).shape == (2, 10)


def test_encoding_is_one_hot_per_edge() -> None:
    archs = SPACE.all_architectures()[::13]
    enc = SPACE.encode_many(archs).reshape(len(archs), 6, 5)
    np.testing.assert_array_equal(enc.sum(axis=2), 1.0)
    np.testing.assert_array_equal(enc.argmax(axis=2), np.array([a.ops for a in archs]))
    ops = ("skip", "none", "conv3x3", "conv1x1", "avgpool3x3")
    assert SPACE.feature_names[:5] == [f"edge12_{o}" for o in ops]


def test_changing_any_edge_changes_the_encoding() -> None:
    # Two cells that differ on any edge must get different feature vectors.
    base = NB201Arch((0,) * 6)
    for edge, op in itertools.product(range(6), range(1, 5)):
        ops = list(base.ops)
        ops[edge] = op
        assert not np.array_equal(SPACE.encode(base), SPACE.encode(NB201Arch(tuple(ops))))


def test_canonical_cell_computes_the_same_function() -> None:
    # a cell whose dead edges carry convolutions: the canonical one drops them
    space = NB201Space(channels=4, cells_per_stage=1)
    rng = np.random.default_rng(0)
    changed = 0
    for _ in range(30):
        arch = space.sample(rng)
        canon = space.canonical(arch)
        assert space.canonical(canon) == canon
        if canon == arch:
            continue
        changed += 1
        assert all(c == NONE or c == a for a, c in zip(arch.ops, canon.ops))
        torch.manual_seed(0)
        model = space.build(arch, (1, 8, 8), 5).eval()
        other = space.build(canon, (1, 8, 8), 5).eval()
        shared = {k: v for k, v in model.state_dict().items() if k in other.state_dict()}
        other.load_state_dict(shared, strict=False)
        x = torch.randn(3, 1, 8, 8)
        with torch.no_grad():
            assert torch.allclose(model(x), other(x), atol=1e-6)
    assert changed > 0


def test_every_disconnected_cell_has_the_all_none_canonical_form() -> None:
    forms = {SPACE.canonical(a) for a in SPACE.all_architectures() if SPACE.is_disconnected(a)}
    assert forms == {NB201Arch((NONE,) * 6)}
