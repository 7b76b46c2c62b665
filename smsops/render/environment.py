"""The sandboxed, strict, bounded Jinja environment every message is rendered in.

Configs arrive through pull requests and are untrusted: templates run in
Jinja's immutable sandbox (no private attributes, no changing a list or
dict in place), an undefined variable is an error, never blank text, and
every render is bounded (`smsops.render.limits`, `smsops.render.budget`):

- `*`, `**`, `+`, `%` go through `call_binop` and `~` through `join_text`,
  which size their result before making it;
- `range`, `lipsum` and the filters that pad or repeat are bounded
  replacements (`smsops.render.filters`); calls of built-in methods that
  pad or repeat (`ljust`, `zfill`, `replace`, `join`, ...) and
  `str.format` fields are sized before they run;
- lists, tuples and dicts a template builds, and what filters and calls
  return, are weighed as they would print (`limits.weigh`), so sharing
  cannot hide a 2**60-leaf structure;
- the code generator (Jinja's documented `code_generator_class` hook) wraps
  the iterable of every `for` loop, and of a recursive loop's `loop(...)`,
  in a guard that charges one step per item, and every call of a macro,
  block or recursive loop charges one step too: a render has MAX_STEPS in
  all, however loops and macros nest;
- text written inside loops, macros and blocks is charged as it is
  written (MAX_WRITTEN), what the sized operations make in all is charged
  (MAX_MADE), and the message itself is at most MAX_TEXT.

Only templates that use loops, filters, calls or operators pay for the
guards: plain `{{ variable }}` templates compile to the same code as
before (docs/security.md, Render bounds, gives the measured cost).

Over 250 lines on purpose: the environment, its code generator and the
guards it compiles in are one mechanism; the pure checks and the numbers
live in `limits.py`, the bounded filters in `filters.py`.
"""

from __future__ import annotations

import copy
from collections import deque
from collections.abc import Callable, Iterable, Iterator
from contextlib import suppress
from functools import cache, lru_cache, update_wrapper
from types import BuiltinMethodType, MethodType
from typing import Any, NamedTuple, cast

from jinja2 import StrictUndefined, Template, meta, nodes
from jinja2.compiler import CodeGenerator, Frame
from jinja2.filters import FILTERS as JINJA_FILTERS
from jinja2.runtime import BlockReference, Context, LoopContext, Macro, new_context
from jinja2.sandbox import (
    ImmutableSandboxedEnvironment,
    SandboxedEnvironment,
    SandboxedFormatter,
    modifies_known_mutable,
)
from jinja2.utils import Namespace, _PassArg
from jinja2.visitor import NodeTransformer

from smsops.core.errors import RenderLimitExceeded
from smsops.render import limits
from smsops.render.budget import BudgetedContext, charge_made, charge_step, weights_of
from smsops.render.filters import FILTERS, bounded, lipsum

# Variables smsops supplies to every message, before the schedule's and the contact's.
BUILTINS = frozenset({"now", "schedule", "occurrence", "recipient"})


# Calls of these environment methods are made by the code generator, never by a
# template (the parser has no syntax for an environment attribute); each gets
# the render's context. Jinja allows no custom node types, hence calls.
_HOOKS = frozenset({"counted", "written"})
# Tuples of types, built once: `isinstance(x, A | B)` builds its union every call.
_TEMPLATE_CALLABLES = (Macro, LoopContext, BlockReference)
_CONTAINERS = (list, tuple, dict, set, frozenset, Namespace)
_TEXTS = (str, bytes)
# The mutable types a template can reach (its data is YAML and CSV values);
# checked by type first, as Jinja's ABC checks cost ~1 us per attribute.
_MUTABLE = (list, dict, set, deque)
_MAX_STEPS, _MAX_WRITTEN = limits.MAX_STEPS, limits.MAX_WRITTEN
_BINOPS = {"*": limits.multiply, "**": limits.power, "+": limits.add, "%": limits.modulo}


def _hook(name: str, *args: nodes.Expr) -> nodes.Call:
    """`environment.<name>(context, *args)` as a node."""
    attribute = nodes.EnvironmentAttribute(name)
    return nodes.Call(attribute, list(args), [], None, None, lineno=args[0].lineno)


def _is_hook(node: nodes.Node) -> bool:
    return (
        isinstance(node, nodes.Call)
        and isinstance(node.node, nodes.EnvironmentAttribute)
        and node.node.name in _HOOKS
    )


class BoundedCodeGenerator(CodeGenerator):
    """Jinja's code generator, with the guards of the module docstring added."""

    _recursive_loops = 0

    def visit_For(self, node: nodes.For, frame: Frame) -> None:
        if isinstance(node.iter, nodes.Expr) and not _is_hook(node.iter):
            node.iter = _hook("counted", node.iter)
        self._recursive_loops += node.recursive
        try:
            super().visit_For(node, frame)
        finally:
            self._recursive_loops -= node.recursive

    def visit_Call(self, node: nodes.Call, frame: Frame, forward_caller: bool = False) -> None:
        if _is_hook(node):
            assert isinstance(node.node, nodes.EnvironmentAttribute)
            self.write(f"environment.{node.node.name}(context")
            for arg in node.args:
                self.write(", ")
                self.visit(arg, frame)
            self.write(")")
            return
        # Inside a recursive loop `loop(items)` starts another loop over items.
        recursion = isinstance(node.node, nodes.Name) and node.node.name == "loop"
        if self._recursive_loops and recursion and node.args and not _is_hook(node.args[0]):
            node.args[0] = _hook("counted", node.args[0])
        super().visit_Call(node, frame, forward_caller=forward_caller)

    # Lists, tuples and dicts a template builds, and every filter's result, are
    # weighed: `[a, a]` nested 60 deep is refused before anything prints it.
    def visit_List(self, node: nodes.List, frame: Frame) -> None:
        self._sized(super().visit_List, node, frame)

    def visit_Tuple(self, node: nodes.Tuple, frame: Frame) -> None:
        if node.ctx != "load":  # an assignment target: `{% for a, b in ... %}`
            super().visit_Tuple(node, frame)
        else:
            self._sized(super().visit_Tuple, node, frame)

    def visit_Dict(self, node: nodes.Dict, frame: Frame) -> None:
        self._sized(super().visit_Dict, node, frame)

    def visit_Filter(self, node: nodes.Filter, frame: Frame) -> None:
        self._sized(super().visit_Filter, node, frame)

    def _sized(self, visit: Any, node: nodes.Node, frame: Frame) -> None:
        self.write("environment.sized(context, ")
        visit(node, frame)
        self.write(")")

    def visit_Concat(self, node: nodes.Concat, frame: Frame) -> None:
        self.write("environment.join_text(context, (")
        for arg in node.nodes:
            self.visit(arg, frame)
            self.write(", ")
        self.write("))")

    def visit_Output(self, node: nodes.Output, frame: Frame) -> None:
        # Outside every loop, macro and block the output is the template's own
        # text and expressions, bounded by its size; inside, it may repeat, so
        # it is charged as it is written: all the pieces of one output in one
        # call (never folded to a constant).
        if not frame.toplevel and not (len(node.nodes) == 1 and _is_hook(node.nodes[0])):
            node.nodes = [_hook("written", *node.nodes)]
        super().visit_Output(node, frame)


class _BoundedFormatter(SandboxedFormatter):
    """`str.format` in the sandbox, with the widths of all its fields summed and bounded."""

    widths = 0

    def format_field(self, value: Any, format_spec: str) -> Any:
        self.widths += limits.spec_widths(format_spec)
        limits.check_size(self.widths, limits.WIDTHS)
        return super().format_field(value, format_spec)


class BoundedEnvironment(ImmutableSandboxedEnvironment):
    """The sandbox with smsops's bounds; see the module docstring."""

    code_generator_class = BoundedCodeGenerator
    context_class = BudgetedContext
    intercepted_binops = frozenset({"*", "**", "+", "%"})

    def __init__(self, **options: Any) -> None:
        super().__init__(**options)
        self.globals["range"] = bounded_range
        self.globals["lipsum"] = lipsum
        self.filters.update(
            {name: FILTERS.get(name) or bounded(f) for name, f in self.filters.items()}
        )

    def is_safe_attribute(self, obj: Any, attr: str, value: Any) -> bool:
        """The immutable sandbox's rule (no private attributes, no `append`, `update`,
        ...), with the mutability check made only on the types it concerns."""
        if not SandboxedEnvironment.is_safe_attribute(self, obj, attr, value):
            return False
        return not (isinstance(obj, _MUTABLE) and modifies_known_mutable(obj, attr))

    def call(self, context: Context, obj: Any, /, *args: Any, **kwargs: Any) -> Any:
        """A call of the template's own macros, blocks or recursive loop is a step; built-in
        methods that pad or repeat are sized first.

        Other calls need no step: each runs once per pass over its place in the
        template, and the passes are what loops and macro calls count.
        """
        if isinstance(obj, _TEMPLATE_CALLABLES):
            charge_step(context)  # their output is charged as it is written
            return super().call(context, obj, *args, **kwargs)
        if isinstance(obj, BuiltinMethodType):
            args = limits.guard_method(getattr(obj, "__self__", None), obj.__name__, args, kwargs)
        result = self.sized(context, super().call(context, obj, *args, **kwargs))
        if isinstance(result, _TEXTS):
            charge_made(context, len(result))
        return result

    def call_binop(self, context: Context, operator: str, left: Any, right: Any) -> Any:
        """`*`, `**`, `+` and `%`, sized before they run (`limits.multiply`, ...)."""
        result = _BINOPS[operator](left, right, weights_of(context))
        charge_made(context, limits.made(result))
        return result

    def sized(self, context: Context, value: Any) -> Any:
        """A container a template built or a filter returned, weighed (called by the
        generated code); texts pass, charged where they are made."""
        if isinstance(value, _CONTAINERS):
            charge_made(context, limits.weigh(value, weights_of(context)))
        return value

    def wrap_str_format(self, value: Any) -> Any:
        """`str.format` / `format_map` with every field's width sized (see `_BoundedFormatter`)."""
        if not isinstance(value, MethodType | BuiltinMethodType) or value.__name__ not in (
            "format",
            "format_map",
        ):
            return None
        text = value.__self__
        if not isinstance(text, str):
            return None
        is_map = value.__name__ == "format_map"

        def wrapper(*args: Any, **kwargs: Any) -> str:
            if is_map:
                if kwargs or len(args) != 1:
                    raise TypeError("format_map() takes exactly one positional argument")
                mapping: Any = args[0]
                args, kwargs = (), mapping
            result = str(_BoundedFormatter(self).vformat(text, args, kwargs))
            limits.check_size(len(result))
            return result

        return update_wrapper(wrapper, value)

    # The two hooks below run per loop item and per piece written in a loop:
    # kept to a few attribute updates (the generated code passes our context).
    def counted(self, context: BudgetedContext, iterable: Iterable[Any]) -> Iterable[Any]:
        """A loop's items, each charged a step (called by the generated code).

        A list, dict, string or range is charged its length up front and
        iterated as it is (the sandbox lets no loop change its length, and
        Jinja has no `break`); anything else item by item, as it is drawn.
        """
        budget = context.owner or context
        try:
            size = len(iterable)  # type: ignore[arg-type]
        except TypeError:
            return _counted_items(budget, iterable)
        budget.steps += size
        if budget.steps > _MAX_STEPS:
            raise RenderLimitExceeded(limits.STEPS, _MAX_STEPS)
        return iterable

    def written(self, context: BudgetedContext, *pieces: Any) -> str:
        """Output inside a loop, macro or block, charged (called by the generated code)."""
        text = "".join(map(str, pieces))
        budget = context.owner or context
        budget.written += len(text)
        if budget.written > _MAX_WRITTEN:
            raise RenderLimitExceeded(limits.WRITTEN, _MAX_WRITTEN)
        return text

    def join_text(self, context: Context, values: Iterable[Any]) -> str:
        """The `~` operator, sized (called by the generated code)."""
        text = limits.join_text(values)
        charge_made(context, len(text))
        return text


def _counted_items(budget: BudgetedContext, iterable: Iterable[Any]) -> Iterator[Any]:
    for item in iterable:
        budget.steps += 1
        if budget.steps > _MAX_STEPS:
            raise RenderLimitExceeded(limits.STEPS, _MAX_STEPS)
        yield item


def bounded_range(*args: int) -> range:
    """`range` with at most MAX_RANGE items."""
    items = range(*args)
    limits.check_size(len(items), limits.RANGE, limits.MAX_RANGE)
    return items


@cache
def environment() -> BoundedEnvironment:
    """The one shared environment (Jinja environments are safe to share)."""
    return BoundedEnvironment(
        undefined=StrictUndefined,
        autoescape=False,
        keep_trailing_newline=False,
        auto_reload=False,
    )


# A body is parsed and compiled once per process: validate's checks (syntax, private
# names, includes, the trial render, the opt-out phrase) and the plan's renderer each
# asked again, ~1 ms a template. Only the answers are kept (a variable set, a
# compiled template, a tree no caller changes), keyed by the body's text; a body
# that raises is not kept and raises again.
_BODIES = 256


@lru_cache(maxsize=_BODIES)
def compiled(body: str) -> Template:
    """`body` compiled in the shared environment (raises `TemplateSyntaxError`)."""
    return environment().from_string(body)


def variables_of(body: str) -> set[str]:
    """The variables a template body reads (raises `TemplateSyntaxError`)."""
    return set(_variables(body))


@lru_cache(maxsize=_BODIES)
def _variables(body: str) -> frozenset[str]:
    # Its own parse: the tracking code generator may fold constants in the tree it walks.
    return frozenset(meta.find_undeclared_variables(environment().parse(body)))


@lru_cache(maxsize=_BODIES)
def parsed(body: str) -> nodes.Template:
    """`body`'s syntax tree, for reading only (raises `TemplateSyntaxError`)."""
    return environment().parse(body)


class PrivateName(NamedTuple):
    """A name like `_x` a template reaches for, and the line of the body it is on."""

    name: str
    line: int


def private_attributes(body: str) -> list[PrivateName]:
    """Names like `__class__` or `_x` a template reaches for (raises `TemplateSyntaxError`).

    The sandbox refuses them when rendering anyway; finding them statically
    lets `validate` reject the template before any recipient is tried.
    """
    return private_names(parsed(body))


def private_names(tree: nodes.Node) -> list[PrivateName]:
    """`private_attributes` of a parsed body (the tree is not changed).

    A name is read as the sandbox will see it: an attribute (`x._a`), a
    subscript or an `attr` filter's argument once Jinja's constant folding
    has run on a copy (`x["_" ~ "a"]`, `x|attr("%s"|format("_a"))`). A
    name made at render (`x[y]`, a method call) is left to the sandbox.
    """
    if any(_key(node) is not None for node in tree.find_all((nodes.Getitem, nodes.Filter))):
        with suppress(RecursionError):  # too deep to fold: the names as written
            tree = _Folding().fold(tree)
    found: list[PrivateName] = []
    for node in tree.find_all((nodes.Getattr, nodes.Getitem, nodes.Filter)):
        name: Any = None
        if isinstance(node, nodes.Getattr):
            name = node.attr
        elif isinstance(node, nodes.Getitem) and isinstance(node.arg, nodes.Const):
            name = node.arg.value if isinstance(node.arg.value, str) else None
        elif isinstance(node, nodes.Filter) and node.name == "attr":
            # Jinja's `attr` looks up str(name), whatever it was given.
            given = [*node.args[:1], *(pair.value for pair in node.kwargs if pair.key == "name")]
            if given and isinstance(given[0], nodes.Const):
                name = str(given[0].value)
        if isinstance(name, str) and name.startswith("_"):
            found.append(PrivateName(name, node.lineno))
    return found


def _key(node: nodes.Node) -> nodes.Expr | None:
    """A subscript's key or an `attr` filter's name when it is not yet a constant: the
    only places folding can find a name (most templates have none, and skip it)."""
    if isinstance(node, nodes.Getitem):
        key: nodes.Node | None = node.arg
    elif isinstance(node, nodes.Filter) and node.name == "attr":
        key = next(iter([*node.args[:1], *(p.value for p in node.kwargs if p.key == "name")]), None)
    else:
        return None
    return key if isinstance(key, nodes.Expr) and not isinstance(key, nodes.Const) else None


class _Folding(NodeTransformer):
    """Jinja's own constant folding (its optimizer's walk, `as_const`, `Impossible`), run
    through the render bounds with a budget of its own.

    Jinja folds no intercepted operator and no filter that takes the context,
    which every bounded filter does; here the operators (and `~`) fold through
    the environment's sized operations, and a filter folds when Jinja's own
    version of it would (so never `random`), through its bounded version. A
    fold that breaks a bound is left unfolded: the trial render reports it.
    """

    def __init__(self) -> None:
        bounded_ = environment()
        self.bounded = bounded_
        self.context = new_context(bounded_, "fold", {})
        folding = bounded_.overlay()
        folding.filters = {name: self._foldable(name, f) for name, f in bounded_.filters.items()}
        self.environment = folding
        self.eval_ctx = nodes.EvalContext(folding)

    def fold(self, tree: nodes.Node) -> nodes.Node:
        """A folded copy of `tree` (the environment is shared, never copied)."""
        copied = copy.deepcopy(tree, {id(self.bounded): self.bounded})
        return cast(nodes.Node, self.visit(copied, self.eval_ctx))

    def _foldable(self, name: str, filter_: Callable[..., Any]) -> Callable[..., Any]:
        jinja_own = JINJA_FILTERS.get(name)
        takes_context = _PassArg.from_obj(filter_) is _PassArg.context
        if jinja_own is None or _PassArg.from_obj(jinja_own) is _PassArg.context:
            return filter_  # Jinja would not fold it either (`as_const` refuses a context)
        if not takes_context:
            return filter_
        context = self.context
        return lambda *args, **kwargs: filter_(context, *args, **kwargs)

    def generic_visit(self, node: nodes.Node, *args: Any, **kwargs: Any) -> nodes.Node:
        """Jinja's optimizer's step (operands first, then the node as a `Const` when it
        is one), with `_value` for `as_const`."""
        node = NodeTransformer.generic_visit(self, node, *args, **kwargs)
        if not isinstance(node, nodes.Expr):
            return node
        try:
            return nodes.Const.from_untrusted(self._value(node), node.lineno, self.environment)
        except nodes.Impossible:
            return node

    def _value(self, node: nodes.Expr) -> Any:
        """`node.as_const()`, with `~` and the intercepted operators through the bounded
        operations (raises `Impossible`). Any error is no constant: Jinja's own folding
        lets some escape (`'a' ~ 'b'[5]` prints an undefined value, which raises)."""
        context, eval_ctx = self.context, self.eval_ctx
        try:
            if isinstance(node, nodes.Concat):
                parts = [part.as_const(eval_ctx) for part in node.nodes]
                return self.bounded.join_text(context, parts)
            if isinstance(node, nodes.BinExpr) and node.operator in self.bounded.intercepted_binops:
                left, right = node.left.as_const(eval_ctx), node.right.as_const(eval_ctx)
                return self.bounded.call_binop(context, node.operator, left, right)
            return node.as_const(eval_ctx)
        except nodes.Impossible:
            raise
        except Exception as exc:  # a bound, a type error, an undefined value
            raise nodes.Impossible() from exc
