"""The default portfolio: its rounds give each member its share, spread
evenly, from the exploration's seed alone; and the linear program that
chose the shares (bench/portfolio.py) solves what it says it solves."""

from __future__ import annotations

import importlib.util
import pathlib

import pytest

from foliolab.explore.strategies import Portfolio, _smooth_rotation

BENCH = pathlib.Path(__file__).resolve().parent.parent / "bench" / "portfolio.py"


def _bench():
    spec = importlib.util.spec_from_file_location("bench_portfolio", BENCH)
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


@pytest.mark.parametrize("shares", [((0, 7), (1, 7), (2, 4), (3, 1), (4, 1)),
                                    ((0, 1), (1, 1)), ((0, 5), (1, 2), (2, 1))])
def test_a_round_gives_each_member_its_weight_spread_evenly(shares):
    total = sum(w for _, w in shares)
    rot = _smooth_rotation(shares)
    assert len(rot) == total
    for item, w in shares:
        at = [x for x, i in enumerate(rot) if i == item]
        assert len(at) == w
        # around the round, no gap between two turns of a member is longer
        # than its fair gap rounded up, plus one
        gaps = [(b - a) % total or total for a, b in zip(at, at[1:] + at[:1])]
        assert max(gaps) <= -(-total // w) + 1, (item, rot)


def test_the_portfolio_runs_its_shares_in_every_round():
    p = Portfolio(3)
    n = len(p.rotation)
    assert n == sum(w for _, w in Portfolio.SHARES)
    for i, w in Portfolio.SHARES:
        assert sum(1 for m in p.rotation if m is p.members[i]) == w
    # the members that find most of the catalogue's races come first
    assert [m.describe() for m in p.rotation[:4]] == ["sticky(p=0.8)", "random",
                                                      "sticky(p=0.8)", "pos"]
    ran = []
    for _ in range(2 * n):
        p.next_choose()
        ran.append(p.current)
    assert ran[:n] == list(p.rotation) and ran[n:] == list(p.rotation)


def test_the_portfolio_is_a_function_of_its_seed():
    a, b, c = Portfolio(5), Portfolio(5), Portfolio(6)
    assert [m.rng.random() for m in a.members] == [m.rng.random() for m in b.members]
    assert [m.rng.random() for m in a.members] != [m.rng.random() for m in c.members]


def test_the_shares_program_balances_members_each_alone_on_a_race():
    bench = _bench()
    ms = bench.MEMBERS
    zero = dict.fromkeys(ms, 0.0)
    # two races, each found by one member only, at different rates: the
    # best mixture halves the rate of both (worst ratio 2)
    table = {"a": dict(zero, random=0.01), "b": dict(zero, sticky=0.5)}
    shares, worst = bench.optimal_shares(table)
    assert worst == pytest.approx(2.0)
    assert shares["random"] == pytest.approx(0.5) and shares["sticky"] == pytest.approx(0.5)
    # a member that is second best everywhere beats both specialists (pos
    # alone: 1.25x on c), and the mixture does a little better still
    table["c"] = dict(zero, random=0.01, sticky=0.5, pos=0.4)
    table["a"]["pos"], table["b"]["pos"] = 0.009, 0.45
    shares, worst = bench.optimal_shares(table)
    assert shares["pos"] > 0.8 and worst < 1.25
    assert bench.ratio(shares, table["a"]) == pytest.approx(
        0.01 / sum(shares[m] * table["a"][m] for m in ms))


def test_the_bench_reads_the_default_shares_and_finds_them_again():
    bench = _bench()
    now = bench.current_shares()
    assert sum(now.values()) == pytest.approx(1.0)
    assert now["sticky"] == pytest.approx(0.5) and now["pct(d=3)"] == pytest.approx(0.05)
    zero = dict.fromkeys(bench.MEMBERS, 0.0)
    # a race only the sticky walk finds and one every member finds alike:
    # every other member keeps its one schedule, the sticky walk takes the
    # rest of the round
    live = [dict(zero, sticky=0.1), dict.fromkeys(bench.MEMBERS, 0.1)]
    w, (worst, over, _gm) = bench.best_round(live, 10, 4.0)
    assert dict(zip(bench.MEMBERS, w)) == {"pct(d=2)": 1, "pct(d=3)": 1, "random": 1,
                                           "sticky": 6, "pos": 1}
    assert over == 0 and worst == pytest.approx(10 / 6)
    assert bench.best_round(live, 10, 1.5) is None
