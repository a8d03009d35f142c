from collections import Counter

from labeling.exports.split import StratifiedSplitter


def test_split_is_exact_per_task_type_and_seeded():
    totals = {"qa": 50, "code": 30, "math": 7}
    order = ["qa"] * 50 + ["code"] * 30 + ["math"] * 7

    def run(seed):
        splitter = StratifiedSplitter(totals=totals, fraction=0.2, seed=seed)
        return [splitter.next(t) for t in order]

    first = run(1)
    counts = Counter((t, s) for t, s in zip(order, first, strict=True))
    assert counts[("qa", "validation")] == 10
    assert counts[("code", "validation")] == 6
    assert counts[("math", "validation")] == 1  # round(1.4)
    assert run(1) == first
    assert run(2) != first


def test_zero_fraction_keeps_everything_in_train():
    splitter = StratifiedSplitter(totals={"qa": 5}, fraction=0.0, seed=0)
    assert {splitter.next("qa") for _ in range(5)} == {"train"}


def test_a_type_is_never_all_validation():
    splitter = StratifiedSplitter(totals={"qa": 2}, fraction=0.9, seed=0)
    assert sorted(splitter.next("qa") for _ in range(2)) == ["train", "validation"]
