"""xw.scheduler without processes: which cells wait for which, the order ready cells go in, and which
cells are skipped when one fails."""

from __future__ import annotations

from conftest import two_scale_mini_study

from xw.cells import Cell, expand_grid
from xw.scheduler import Schedule, choose_openers, pretraining_openers, scale_cost, waits_for

COST = {"small": 1.0, "big": 2.0}


def inter(scale: str, task: str, seed: int = 0) -> Cell:
    return Cell("intermediate", scale, task, seed)


def target(scale: str, task: str, seed: int = 0) -> Cell:
    return Cell("target", scale, task, seed, "t")


def grid_of(*scales: str, tasks=("none", "a"), seeds=(0,)) -> list[Cell]:
    """Like xw.cells.expand_grid: intermediate cells first, then target cells."""
    return ([inter(s, i, seed) for s in scales for i in tasks for seed in seeds]
            + [target(s, i, seed) for s in scales for i in tasks for seed in seeds])


def ids(cells) -> list[str]:
    return [c.id for c in cells]


def test_targets_wait_for_their_intermediate_and_bigger_scales_go_first():
    grid = grid_of("small", "big")
    schedule = Schedule(grid, grid, {}, COST)
    assert waits_for(target("big", "a"), {}) == inter("big", "a")
    assert waits_for(inter("big", "a"), {}) is None
    assert sorted(schedule.waiting) == sorted(ids(c for c in grid if c.kind == "intermediate"))
    # only intermediate cells are ready; the bigger scale first, then grid order
    assert ids(schedule.take(3)) == ids([inter("big", "none"), inter("big", "a"), inter("small", "none")])
    assert ids(schedule.take(10)) == ids([inter("small", "a")])
    assert schedule.take(5) == [] and schedule.take(0) == [] and schedule.take(-1) == []
    schedule.succeeded(inter("small", "none"))
    schedule.succeeded(inter("big", "a"))
    assert ids(schedule.take(1)) == ids([target("big", "a")])  # bigger scale before smaller
    assert ids(schedule.take(1)) == ids([target("small", "none")])
    assert schedule.take(1) == []


def test_intermediate_before_target_within_a_scale_and_done_dependencies_are_ready():
    # the intermediate cell of target(big, none) is done (not pending): the target is ready at once
    grid = [target("big", "none"), inter("big", "a"), inter("small", "a")]
    schedule = Schedule(grid, grid, {}, COST)
    assert not schedule.waiting
    assert ids(schedule.take(3)) == ids([inter("big", "a"), target("big", "none"), inter("small", "a")])


def test_openers_pretrain_their_scale_first_and_the_scale_waits_for_them():
    grid = grid_of("small", "big", seeds=(0, 1))
    openers = choose_openers(grid, ["small", "big"])
    assert openers == {"small": inter("small", "none", 0), "big": inter("big", "none", 0)}
    assert choose_openers(grid, ["big"]) == {"big": inter("big", "none", 0)}
    assert choose_openers([c for c in grid if c.kind == "target"], ["big"]) == {}  # no intermediate cell left
    # without a pending baseline cell, the lowest seed of another intermediate task opens the scale
    assert choose_openers([inter("big", "a", 1), inter("big", "a", 0)], ["big"]) == {"big": inter("big", "a", 0)}

    schedule = Schedule(grid, grid, openers, COST)
    assert waits_for(inter("small", "a", 1), openers) == inter("small", "none", 0)
    assert waits_for(inter("small", "none", 0), openers) is None
    assert waits_for(target("small", "a", 1), openers) == inter("small", "a", 1)  # its own intermediate
    assert ids(schedule.ready) == ids([inter("small", "none", 0), inter("big", "none", 0)])
    assert ids(schedule.waiting[inter("big", "none", 0).id]) == ids(
        [inter("big", "none", 1), inter("big", "a", 0), inter("big", "a", 1), target("big", "none", 0)])
    assert ids(schedule.take(1)) == ids([inter("big", "none", 0)])
    schedule.succeeded(inter("big", "none", 0))
    # the other opener still comes first, then the big scale's intermediate cells, then its target
    assert ids(schedule.take(10)) == ids([inter("small", "none", 0), inter("big", "none", 1), inter("big", "a", 0),
                                          inter("big", "a", 1), target("big", "none", 0)])


def test_a_failure_skips_every_cell_that_waits_on_it_with_the_reason():
    grid = grid_of("small", "big", seeds=(0, 1))
    openers = choose_openers(grid, ["small"])
    schedule = Schedule(grid, grid, openers, COST)
    opener = inter("small", "none", 0)
    assert ids(schedule.take(1)) == ids([opener])  # the opener before the bigger scale
    skipped = schedule.failed(opener, "RuntimeError: boom\nTraceback ...")
    # depth first, each cell before the cells that wait on it
    assert ids(c for c, _ in skipped) == ids([
        inter("small", "none", 1), target("small", "none", 1),
        inter("small", "a", 0), target("small", "a", 0),
        inter("small", "a", 1), target("small", "a", 1),
        target("small", "none", 0)])
    reasons = {c.id: why for c, why in skipped}
    first = f"skipped: {opener.id}, which it waits for, failed (RuntimeError: boom)"
    assert reasons[inter("small", "a", 0).id] == first
    assert reasons[target("small", "a", 0).id] == f"skipped: {inter('small', 'a', 0).id}, which it waits for, failed ({first})"
    # nothing of the small scale is handed out any more; the big scale is untouched
    rest = schedule.take(100)
    assert {c.scale for c in rest} == {"big"} and ids(rest) == ids(
        [inter("big", "none", 0), inter("big", "none", 1), inter("big", "a", 0), inter("big", "a", 1)])
    assert all(c.scale == "big" for cells in schedule.waiting.values() for c in cells)
    # a failure with no message, of a cell nothing waits for
    assert schedule.failed(inter("big", "a", 1), "") == [(target("big", "a", 1), "skipped: "
                                                         f"{inter('big', 'a', 1).id}, which it waits for, failed (?)")]
    assert schedule.failed(target("big", "a", 1), "x") == []


def test_scale_cost_and_openers_of_a_mini_world_study(tmp_path):
    study = two_scale_mini_study(tmp_path)
    assert scale_cost(study) == {"small": 1 * 16.0 ** 2, "big": 2 * 32.0 ** 2}
    cells = expand_grid(study)
    openers = pretraining_openers(study, cells)  # nothing is pretrained under tmp_path
    assert {s: c.id for s, c in openers.items()} == {"small": "intermediate__small__none__seed0",
                                                      "big": "intermediate__big__none__seed0"}
    schedule = Schedule(cells, cells, openers, scale_cost(study))
    assert ids(schedule.take(2)) == ["intermediate__big__none__seed0", "intermediate__small__none__seed0"]
