"""What one render has spent of its bounds: loop steps, text written, text made.

The counters live on the render's context, so concurrent renders never
share them; contexts derived for scoped blocks charge the one they came from.
"""

from __future__ import annotations

from typing import Any

from jinja2.runtime import Context

from smsops.core.errors import RenderLimitExceeded
from smsops.render import limits


class BudgetedContext(Context):
    """A render's context, carrying what the render has spent of its bounds.

    The counters are class attributes until first charged, so a render that
    never loops or calls pays nothing for them. Contexts derived for scoped
    blocks charge the context they came from.
    """

    steps = 0
    written = 0
    made = 0
    weights: limits.Weights | None = None
    owner: BudgetedContext | None = None

    def derived(self, locals: dict[str, Any] | None = None) -> Context:
        child = super().derived(locals)
        if isinstance(child, BudgetedContext):
            child.owner = self.owner or self
        return child


def charge_step(context: Context) -> None:
    """One loop iteration or macro call of this render."""
    budget = budget_of(context)
    budget.steps += 1
    if budget.steps > limits.MAX_STEPS:
        raise RenderLimitExceeded(limits.STEPS, limits.MAX_STEPS)


def charge_made(context: Context, size: int) -> None:
    """The size of a text or list a sized operation made (or a container's weight),
    against MAX_MADE."""
    budget = budget_of(context)
    budget.made += size
    if budget.made > limits.MAX_MADE:
        raise RenderLimitExceeded(limits.MADE, limits.MAX_MADE)


def weights_of(context: Context) -> limits.Weights:
    """The containers this render has weighed already (see `limits.weigh`)."""
    budget = budget_of(context)
    if budget.weights is None:
        budget.weights = {}
    return budget.weights


def budget_of(context: Context) -> BudgetedContext:
    if not isinstance(context, BudgetedContext):
        raise TypeError("smsops templates render with the bounded environment's context")
    return context.owner or context
