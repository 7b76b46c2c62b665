"""`max_cost` compares an exact cost: a plan exactly at its limit is within it,
whatever binary floats would add up to (checked against a Decimal oracle)."""

from __future__ import annotations

from collections import Counter
from decimal import Decimal

from hypothesis import given
from hypothesis import strategies as st

from smsops.config.models import Limits
from smsops.engine.limits import exceeded
from smsops.engine.plan import Disposition, SchedulePlan

# Prices as a config writes them: up to 4 decimal places.
PRICES = st.decimals(min_value=0, max_value=50, places=4, allow_nan=False, allow_infinity=False)


def planned(priced: dict[str, int]) -> SchedulePlan:
    """A plan whose sends cost `segments` at each price (written as text)."""
    s = SchedulePlan("promo", "t", "a", ["ot"], ["once"], [], currency="USD")
    s.counts[Disposition.NEW] = sum(priced.values()) or 1
    s.segments = sum(priced.values())
    s.priced = Counter({float(price): n for price, n in priced.items()})
    s.cost = sum((float(price) * n for price, n in priced.items()), 0.0)
    return s


def test_three_sends_at_a_tenth_cost_exactly_three_tenths() -> None:
    plan = planned({"0.1": 3})
    assert exceeded(Limits(max_cost=0.3), plan, "this plan", None) == []
    (over,) = exceeded(Limits(max_cost=0.29), plan, "this plan", None)
    assert over.detail == "this plan costs about 0.30 USD"


@given(
    st.dictionaries(PRICES.map(str), st.integers(min_value=0, max_value=100_000), max_size=6),
    st.integers(min_value=-3, max_value=3),
)
def test_max_cost_agrees_with_a_decimal_oracle(priced: dict[str, int], nudge: int) -> None:
    priced = {str(Decimal(p).normalize()): n for p, n in priced.items()}
    exact = sum((Decimal(p) * n for p, n in priced.items()), Decimal(0))
    # A limit at the exact cost, or a ten-thousandth either side of it.
    limit = max(exact + Decimal(nudge) / 10_000, Decimal(0))
    plan = planned(priced)
    over = [o.limit for o in exceeded(Limits(max_cost=float(limit)), plan, "this plan", None)]
    assert over == (["max_cost"] if exact > limit else [])
