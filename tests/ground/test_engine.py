"""The one training loop (ground.engine) on a toy regression task: the schedule, accumulation,
best / last checkpoints, resume and the logs."""

from dataclasses import replace
from pathlib import Path

import pytest
import torch
from safetensors.torch import load_file, save_file

from ground.engine import Loop, Task, build_scheduler, train_loop
from ground.errors import TrainingError

CPU = torch.device("cpu")


class Toy(Task):
    """Fit y = 3x with one weight; ``scores`` are what evaluate() reports per epoch."""

    kind = "toy"
    log_fields = ["epoch", "step", "lr", "loss", "seconds", "score"]
    select = "score"

    def __init__(self, batches=4, scores=None, poison_at=None):
        torch.manual_seed(0)
        self.model = self.module = torch.nn.Linear(1, 1, bias=False)
        self.n, self.scores, self.has_val, self.poison_at = (
            batches,
            list(scores or []),
            bool(scores),
            poison_at,
        )
        self.saved = []

    def __len__(self):
        return self.n

    def batches(self, epoch):
        g = torch.Generator().manual_seed(epoch)
        return [torch.randn(8, 1, generator=g) for _ in range(self.n)]

    def step(self, module, x, step):
        loss = ((module(x) - 3 * x) ** 2).mean()
        if self.poison_at is not None and step >= self.poison_at:
            loss = loss * float("nan")
        return loss, {}

    def evaluate(self):
        return {"score": self.scores.pop(0)}

    def save(self, folder, meta, state=None):
        folder.mkdir(parents=True, exist_ok=True)
        save_file({"w": self.model.weight.detach().clone()}, str(folder / "model.safetensors"))
        (folder / "meta.json").write_text(__import__("json").dumps(meta))
        if state is not None:
            torch.save(state, folder / "train_state.pt")
        self.saved.append((folder.name, meta["epoch"]))

    def resume(self, last, meta, state):
        self.model.weight.data.copy_(load_file(str(Path(last) / "model.safetensors"))["w"])


def _sgd(task, lr=0.2):
    return torch.optim.SGD(task.module.parameters(), lr=lr, momentum=0.5)


def test_the_schedule_warms_up_from_its_factor_then_decays_to_zero():
    opt = torch.optim.SGD([torch.nn.Parameter(torch.zeros(1))], lr=1.0)
    sched = build_scheduler(opt, Loop(epochs=1, warmup_steps=10, warmup_factor=0.01), total=100)
    lr = []
    for t in range(101):
        sched.step_update(t)
        lr.append(opt.param_groups[0]["lr"])
    assert lr[0] == pytest.approx(0.01) and lr[10] == pytest.approx(1.0)
    assert lr[5] == pytest.approx(0.01 + 0.99 * 0.5)
    assert lr[55] == pytest.approx(0.5) and lr[100] == pytest.approx(0.0)
    assert all(a >= b for a, b in zip(lr[10:], lr[11:]))  # monotone after the warm-up
    short = build_scheduler(
        opt, Loop(epochs=1, warmup_steps=500), total=30
    )  # warm-up capped at a third
    short.step_update(10)
    assert opt.param_groups[0]["lr"] == pytest.approx(1.0)


def test_the_loop_learns_logs_and_keeps_the_best_epoch(tmp_path):
    task = Toy(scores=[0.2, 0.9, 0.5])
    result = train_loop(
        task, _sgd(task), Loop(epochs=3, warmup_steps=0), tmp_path, 0, 1, CPU, progress=False
    )
    assert result.history[-1]["loss"] < 0.1 * result.history[0]["loss"]
    assert [r["step"] for r in result.history] == [4, 8, 12]
    assert result.checkpoint == tmp_path / "best"
    assert ("best", 2) in task.saved and ("best", 3) not in task.saved  # epoch 3 scored lower
    assert (tmp_path / "log.csv").read_text().count("\n") == 4
    assert list((tmp_path / "tensorboard").glob("events.out.tfevents.*"))


def test_validation_every_few_epochs_and_after_the_last_chooses_best_among_those(tmp_path):
    """val_every=2 over 5 epochs: validated after epochs 2, 4 and 5 only; the best of those is kept
    (epoch 4), the weights trained are those of validation every epoch."""
    task = Toy(scores=[0.2, 0.9, 0.5])
    loop = Loop(epochs=5, warmup_steps=0, val_every=2, tensorboard=False)
    result = train_loop(task, _sgd(task), loop, tmp_path / "few", 0, 1, CPU, progress=False)
    assert [r.get("score") for r in result.history] == [None, 0.2, None, 0.9, 0.5]
    assert [e for name, e in task.saved if name == "best"] == [2, 4]
    every = Toy(scores=[0.1] * 5)
    train_loop(
        every,
        _sgd(every),
        replace(loop, val_every=1),
        tmp_path / "every",
        0,
        1,
        CPU,
        progress=False,
    )
    torch.testing.assert_close(task.model.weight, every.model.weight)


def test_accumulation_steps_once_per_group_of_batches(tmp_path):
    task = Toy(batches=6)
    result = train_loop(
        task,
        _sgd(task),
        Loop(epochs=2, warmup_steps=0, accumulate=3, tensorboard=False),
        tmp_path,
        0,
        1,
        CPU,
        progress=False,
    )
    assert [r["step"] for r in result.history] == [2, 4]
    assert result.checkpoint == tmp_path / "last"  # no validation: the last epoch
    assert not (tmp_path / "tensorboard").exists()


def test_a_last_partial_accumulation_is_stepped_with_its_own_mean(tmp_path):
    """7 batches, accumulate 3: updates after batches 3, 6 and 7; the last one's gradient is the
    mean over its one batch, so one SGD step equals a plain step on that batch alone."""
    task = Toy(batches=7)
    result = train_loop(
        task,
        torch.optim.SGD(task.module.parameters(), lr=0.1),
        Loop(epochs=1, warmup_steps=0, accumulate=3, tensorboard=False, decay="none"),
        tmp_path,
        0,
        1,
        CPU,
        progress=False,
    )
    assert [r["step"] for r in result.history] == [3]
    first_six = Toy(batches=6)  # the same first two updates, then the seventh batch by hand
    train_loop(
        first_six,
        torch.optim.SGD(first_six.module.parameters(), lr=0.1),
        Loop(epochs=1, warmup_steps=0, accumulate=3, tensorboard=False, decay="none"),
        tmp_path / "six",
        0,
        1,
        CPU,
        progress=False,
    )
    x = Toy(batches=7).batches(0)[6]
    w = first_six.model.weight.detach().clone()
    grad = (2 * (w * x - 3 * x) * x).mean()
    assert torch.allclose(task.model.weight.detach(), w - 0.1 * grad, atol=1e-6)


def test_task_is_an_abstract_contract():
    from ground.engine import Task

    class Half(Task):
        def __len__(self):
            return 1

        def batches(self, epoch):
            return [0]

    with pytest.raises(TypeError, match="abstract"):
        Half()


def test_a_resumed_loop_ends_where_an_uninterrupted_one_does(tmp_path):
    loop = Loop(epochs=3, warmup_steps=2, tensorboard=False)
    whole = Toy()
    train_loop(whole, _sgd(whole), loop, tmp_path / "whole", 0, 1, CPU, progress=False)
    cut = Toy()
    train_loop(
        cut, _sgd(cut), loop, tmp_path / "cut", 0, 1, CPU, progress=False, max_steps=4
    )  # killed after epoch 1
    again = Toy()
    resumed = train_loop(again, _sgd(again), loop, tmp_path / "cut", 0, 1, CPU, progress=False)
    assert [r["epoch"] for r in resumed.history] == [2, 3]
    torch.testing.assert_close(again.model.weight, whole.model.weight)


def test_a_non_finite_loss_stops_with_the_step_named(tmp_path):
    task = Toy(poison_at=5)
    with pytest.raises(TrainingError, match="step 5"):
        train_loop(
            task, _sgd(task), Loop(epochs=3, tensorboard=False), tmp_path, 0, 1, CPU, progress=False
        )
    assert ("last", 1) in task.saved  # epoch 1's checkpoint stays


def _curve(loop, total):
    opt = torch.optim.SGD([torch.nn.Parameter(torch.zeros(1))], lr=1.0)
    sched = build_scheduler(opt, loop, total)
    out = []
    for t in range(total + 1):
        sched.step_update(t)
        out.append(opt.param_groups[0]["lr"])
    return out


def test_a_warmup_share_and_a_constant_rate_as_the_reference_scripts_set_them():
    lr = _curve(
        Loop(epochs=1, warmup_fraction=0.025, warmup_factor=0.0), 400
    )  # 10 warm-up updates from 0
    assert (
        lr[0] == pytest.approx(0.0) and lr[5] == pytest.approx(0.5) and lr[10] == pytest.approx(1.0)
    )
    assert lr[205] == pytest.approx(0.5)  # half-way through the 390 cosine updates
    flat = _curve(Loop(epochs=1, warmup_steps=10, decay="none"), 100)
    assert flat[5] == pytest.approx(0.001 + 0.999 * 0.5) and flat[10:] == pytest.approx([1.0] * 91)
    with pytest.raises(TrainingError, match="decay 'step'"):
        _curve(Loop(epochs=1, decay="step"), 10)


def test_a_step_budget_replaces_whole_epochs(tmp_path):
    task = Toy(batches=4)
    result = train_loop(
        task,
        _sgd(task),
        Loop(epochs=1, steps=6, warmup_steps=0, tensorboard=False),
        tmp_path,
        0,
        1,
        CPU,
        progress=False,
    )
    assert [r["step"] for r in result.history] == [4, 6]  # two epochs, the second cut at the budget
    assert result.history[-1]["lr"] == pytest.approx(0.0)  # the cosine ends at the budget


def test_sync_batchnorm_swaps_in_place_only_for_several_cuda_ranks():
    from ground.engine import sync_batchnorm

    module = torch.nn.Sequential(
        torch.nn.Conv2d(3, 4, 1), torch.nn.Sequential(torch.nn.BatchNorm2d(4))
    )
    params = list(module.parameters())
    assert not sync_batchnorm(module, Loop(epochs=1, sync_bn=True), 1, torch.device("cuda"))
    assert not sync_batchnorm(
        module, Loop(epochs=1, sync_bn=True), 2, CPU
    )  # gloo has no SyncBatchNorm
    assert not sync_batchnorm(module, Loop(epochs=1, sync_bn=False), 2, torch.device("cuda"))
    assert sync_batchnorm(module, Loop(epochs=1, sync_bn=True), 2, torch.device("cuda"))
    assert isinstance(module[1][0], torch.nn.SyncBatchNorm)
    assert all(a is b for a, b in zip(params, module.parameters()))  # the optimiser's tensors stay


def test_each_models_config_section_hands_the_loop_every_setting_it_names():
    from dataclasses import fields

    from detector.config import DetTrainConfig
    from embedder.config import OptimConfig

    for section in (
        DetTrainConfig(steps=7, decay="none", warmup_fraction=0.1, sync_bn=True, clip_grad=0.0),
        OptimConfig(
            steps=7, decay="none", warmup_fraction=0.1, sync_bn=True, clip_grad=0.0, accumulate=3
        ),
    ):
        loop = Loop.of(section)
        named = [f.name for f in fields(Loop) if hasattr(section, f.name)]
        assert {n: getattr(loop, n) for n in named} == {n: getattr(section, n) for n in named}
        assert {
            "epochs",
            "steps",
            "warmup_fraction",
            "decay",
            "clip_grad",
            "sync_bn",
            "tensorboard",
        } <= set(named)
    assert (
        Loop.of(OptimConfig(accumulate=3)).accumulate == 3
        and Loop.of(DetTrainConfig()).accumulate == 1
    )


def test_every_checkpoint_states_its_kind_and_loaders_check_it(tmp_path):
    from ground.checkpoint import CheckpointError, check_kind, checkpoint_kind

    task = Toy()
    train_loop(
        task,
        _sgd(task),
        Loop(epochs=1, warmup_steps=0, tensorboard=False),
        tmp_path,
        0,
        1,
        CPU,
        progress=False,
    )
    assert checkpoint_kind(tmp_path / "last") == "toy"
    check_kind(tmp_path / "last", "toy")
    with pytest.raises(CheckpointError, match="last: a toy checkpoint, not a detector one"):
        check_kind(tmp_path / "last", "detector")
    assert checkpoint_kind(tmp_path / "nowhere") is None
