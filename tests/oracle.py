"""An independent exact interpreter of rule files, written from the docs, sharing no code
with ``src/``: its own TOML reading, number reading, formula evaluation (Python's ``ast``
walked by hand, ``fractions.Fraction``), functions, rounding, aggregation, renormalisation
and band choice. The differential tests in ``test_oracle.py`` compare perfrules with it.

It covers what the random schemes of those tests use (docs/reference/rule-files.md and
functions.md): numbers, percentages, ``a/b``, bools, "N/A", missing facts and the four
policies, ``clamp``, ``params``, numeric ``target`` text, ``places`` at every level, the four
rounding modes, named formulas, every function of the formula language, rows and groups
``counted = false`` and ``[scheme] fit`` (``normalise``, ``cap``).

The gap (docs: the gap) is read as its promise: the rows that lost points, the most first
(ties by id), and of them the fewest, from the first, that at full marks lift the total to
the next band, the total recomputed with every rounding and renormalisation.
"""

from __future__ import annotations

import ast
import math
import re
import tomllib
from dataclasses import dataclass
from decimal import Decimal
from fractions import Fraction
from typing import Any


class OracleError(Exception):
    """The facts cannot be scored (perfrules must report a FactsError too)."""


NA = {"n/a", "na", "不适用", "不涉及", "无此项"}
TRUE = {"true", "yes", "y", "是", "有", "✓", "√", "1", "符合", "满足"}
FALSE = {"false", "no", "n", "否", "无", "×", "✗", "0", "不符合", "不满足"}


def read_number(text: Any) -> Fraction:
    """``80%`` → 4/5, ``70/88``, ``0.5``, ints, Decimals (docs: rule-files.md, inputs)."""
    if isinstance(text, bool):
        raise OracleError("a bool is not a number")
    if isinstance(text, int | Decimal):
        return Fraction(text)
    text = str(text).strip()
    percent = text.endswith("%")
    if percent:
        text = text[:-1].strip()
    if "/" in text:
        top, bottom = text.split("/")
        if Fraction(bottom) == 0:
            raise OracleError("zero denominator")
        value = Fraction(Decimal(top.strip())) / Fraction(Decimal(bottom.strip()))
    else:
        value = Fraction(Decimal(text))
    return value / 100 if percent else value


def round_to(value: Fraction, places: int, mode: str) -> Fraction:
    """Round to *places* decimals (docs: numbers-and-rounding.md, modes)."""
    scaled = value * 10**places
    sign = -1 if scaled < 0 else 1
    magnitude = abs(scaled)
    whole = math.floor(magnitude)
    rest = magnitude - whole
    if mode == "half_up":
        whole += rest >= Fraction(1, 2)
    elif mode == "half_even":
        whole += rest > Fraction(1, 2) or (rest == Fraction(1, 2) and whole % 2 == 1)
    elif mode == "up":
        whole += rest > 0
    elif mode != "down":
        raise ValueError(mode)
    return Fraction(sign * whole, 10**places)


@dataclass
class Interval:
    low: Fraction | None
    high: Fraction | None
    low_closed: bool
    high_closed: bool

    def __contains__(self, x: Fraction) -> bool:
        if self.low is not None and (x < self.low or (x == self.low and not self.low_closed)):
            return False
        return self.high is None or x < self.high or (x == self.high and self.high_closed)


def read_interval(spec: str) -> Interval:
    """``[a, b)``, ``(a, b]``, ``>=a``, ``<a``, ``=a`` with ``%`` (docs: functions.md)."""
    spec = spec.strip()
    match = re.fullmatch(r"([\[(])\s*([^,]*?)\s*,\s*([^,]*?)\s*([\])])", spec)
    if match:
        low = None if match[2] in ("", "-inf") else read_number(match[2])
        high = None if match[3] in ("", "inf") else read_number(match[3])
        return Interval(low, high, match[1] == "[", match[4] == "]")
    for op in (">=", "<=", ">", "<", "="):
        if spec.startswith(op):
            value = read_number(spec[len(op) :])
            if op == "=":
                return Interval(value, value, True, True)
            if op.startswith(">"):
                return Interval(value, None, op == ">=", False)
            return Interval(None, value, False, op == "<=")
    raise ValueError(spec)


def call(name: str, args: list[Any]) -> Any:
    """The functions of docs/reference/functions.md."""
    if name == "min":
        return min(args)
    if name == "max":
        return max(args)
    if name == "abs":
        return abs(args[0])
    if name == "clamp":
        x, low, high = args
        if low > high:
            raise OracleError("clamp bounds")
        return min(max(x, low), high)
    if name == "floor":
        return Fraction(math.floor(args[0]))
    if name == "ceil":
        return Fraction(math.ceil(args[0]))
    if name == "ratio":
        actual, target = args
        if target == 0:
            raise OracleError("ratio of 0")
        return min(actual / target, Fraction(1))
    if name == "reverse_ratio":
        actual, target = args
        return Fraction(1) if actual == 0 else min(target / actual, Fraction(1))
    if name == "steps":
        amount, interval = args
        if interval <= 0:
            raise OracleError("steps interval")
        return Fraction(0) if amount <= 0 else Fraction(math.floor(amount / interval))
    if name == "lookup":
        x, rest = args[0], args[1:]
        for i in range(0, len(rest) - 1, 2):
            if x in read_interval(rest[i]):
                return rest[i + 1]
        if len(rest) % 2:
            return rest[-1]
        raise OracleError("lookup miss")
    if name == "count":
        return Fraction(sum(1 for a in args if a))
    if name == "missing":
        return Fraction(sum(1 for a in args if not a))
    if name == "checklist":
        return sum((args[i + 1] for i in range(0, len(args), 2) if args[i]), Fraction(0))
    raise ValueError(name)


class Formula:
    """A formula walked by hand over Python's ast (named formulas expanded by name)."""

    def __init__(self, text: str, named: dict[str, str]) -> None:
        self.text = text
        self.tree = ast.parse(text, mode="eval").body
        self.named = named

    def run(self, names: dict[str, Any]) -> Any:
        return self._eval(self.tree, names)

    def _eval(self, node: ast.AST, names: dict[str, Any]) -> Any:
        if isinstance(node, ast.Constant):
            if isinstance(node.value, bool | str):
                return node.value
            # A literal means the decimal written, not the binary float Python would read.
            return Fraction(Decimal(ast.get_source_segment(self.text, node) or "nan"))
        if isinstance(node, ast.Name):
            if node.id in names:
                return names[node.id]
            return Formula(self.named[node.id], self.named).run(names)
        if isinstance(node, ast.UnaryOp):
            value = self._eval(node.operand, names)
            if isinstance(node.op, ast.Not):
                return not value
            return -value if isinstance(node.op, ast.USub) else value
        if isinstance(node, ast.BinOp):
            a, b = self._eval(node.left, names), self._eval(node.right, names)
            if isinstance(node.op, ast.Add):
                return a + b
            if isinstance(node.op, ast.Sub):
                return a - b
            if isinstance(node.op, ast.Mult):
                return a * b
            if isinstance(node.op, ast.Div):
                if b == 0:
                    raise OracleError("division by zero")
                return a / b
            if isinstance(node.op, ast.Pow):
                return a ** int(b)
        if isinstance(node, ast.BoolOp):
            if isinstance(node.op, ast.And):
                return all(self._eval(v, names) for v in node.values)
            return any(self._eval(v, names) for v in node.values)
        if isinstance(node, ast.Compare):
            left = self._eval(node.left, names)
            for op, right_node in zip(node.ops, node.comparators, strict=True):
                right = self._eval(right_node, names)
                ok = {
                    ast.Lt: left < right,
                    ast.LtE: left <= right,
                    ast.Gt: left > right,
                    ast.GtE: left >= right,
                    ast.Eq: left == right,
                    ast.NotEq: left != right,
                }[type(op)]
                if not ok:
                    return False
                left = right
            return True
        if isinstance(node, ast.IfExp):
            test = self._eval(node.test, names)
            return self._eval(node.body if test else node.orelse, names)
        if isinstance(node, ast.Call):
            args = [self._eval(a, names) for a in node.args]
            return call(node.func.id, args)  # type: ignore[attr-defined]
        raise ValueError(ast.dump(node))


@dataclass
class Node:
    id: str
    weight: Fraction
    places: int | None
    children: list[Node]
    formula: Formula | None = None
    entry: dict[str, Any] | None = None
    counted: bool = True  # added to its parent (the row's own ``counted``)
    reaches: bool = True  # counted, and every group above it too


def _places(value: Any) -> int | None:
    return None if value == "none" else int(value)


class Oracle:
    """A rule file read with tomllib; ``score(facts)`` gives total, grade and every score."""

    def __init__(self, text: str) -> None:
        data = tomllib.loads(text, parse_float=Decimal)
        self.data = data
        rounding = data.get("rounding", {})
        self.mode = rounding.get("mode", "half_up")
        self.indicator_places = _places(rounding.get("indicator", 2))
        self.group_places = _places(rounding.get("group", "none"))
        self.total_places = _places(rounding.get("total", 2))
        self.defaults = data.get("defaults", {})
        self.inputs = data.get("inputs", {})
        self.named = data.get("formulas", {})
        self.max = Fraction(data["scheme"]["max"])
        self.fit = data["scheme"].get("fit")
        self.bands = [(b["label"], Fraction(b["min"]), Fraction(b["max"])) for b in data["bands"]]
        self.root = Node("(root)", self.max, self.total_places, [])
        nodes: dict[str, Node] = {}
        parents: dict[str, str | None] = {}
        for node_id, entry in data.get("groups", {}).items():
            places = _places(entry.get("places", rounding.get("group", "none")))
            nodes[node_id] = Node(node_id, Fraction(entry["weight"]), places, [])
            nodes[node_id].counted = entry.get("counted", True)
            parents[node_id] = entry.get("parent")
        for node_id, entry in data.get("indicators", {}).items():
            places = _places(entry.get("places", rounding.get("indicator", 2)))
            text = entry.get("formula", self.defaults.get("formula"))
            nodes[node_id] = Node(
                node_id, Fraction(entry["weight"]), places, [], Formula(text, self.named), entry
            )
            nodes[node_id].counted = entry.get("counted", True)
            parents[node_id] = entry.get("parent")
        for node_id, node in nodes.items():  # rule-file order within each parent
            parent = parents[node_id]
            (nodes[parent] if parent else self.root).children.append(node)
        for node_id, node in nodes.items():
            above: str | None = node_id
            while above is not None:
                node.reaches = node.reaches and nodes[above].counted
                above = parents[above]
        self.nodes = nodes
        # The rows' own maximum: the counted top-level weights (docs: fit).
        self.rows_max = sum((c.weight for c in self.root.children if c.counted), Fraction(0))

    def _leaf(
        self, node: Node, facts: dict[str, Any], shared: dict[str, Any]
    ) -> tuple[str, Fraction | None]:
        entry = node.entry or {}
        own = facts.get(node.id, {})
        na_policy = entry.get("na", self.defaults.get("na", "exclude"))
        missing_policy = entry.get("missing", self.defaults.get("missing", "error"))
        if own.get("na") not in (None, False):
            return self._policy(node, na_policy)
        names: dict[str, Any] = {"weight": node.weight}
        params = entry.get("params", {})
        missing = False
        for name in sorted(_names(node.formula, self.named) - {"weight"}):
            raw = own.get(name, shared.get(name))
            if raw is None:
                if name in params:
                    value = params[name]
                    names[name] = value if isinstance(value, bool) else Fraction(value)
                    continue
                if name == "target" and entry.get("target"):
                    names[name] = read_number(entry["target"])
                    continue
                missing = True
                continue
            if isinstance(raw, str) and raw.strip().lower() in NA:
                return self._policy(node, na_policy)
            kind = self.inputs.get(name, {}).get("type", "number")
            if kind == "bool":
                if isinstance(raw, bool):
                    names[name] = raw
                elif str(raw).strip().lower() in TRUE | FALSE:
                    names[name] = str(raw).strip().lower() in TRUE
                else:
                    raise OracleError("not a condition")
            else:
                names[name] = read_number(raw)
        if missing:
            return self._policy(node, missing_policy)
        value = node.formula.run(names)  # type: ignore[union-attr]
        if value < 0 or value > node.weight:
            if not entry.get("clamp", self.defaults.get("clamp", False)):
                raise OracleError("score outside its weight")
            value = min(max(value, Fraction(0)), node.weight)
        override = own.get("override")
        if override is not None:
            value = read_number(override["score"])
        return "scored", self._round(value, node.places)

    def _policy(self, node: Node, policy: str) -> tuple[str, Fraction | None]:
        if policy == "error":
            raise OracleError("policy error")
        if policy == "exclude":
            return "excluded", None
        return policy, self._round(node.weight if policy == "full" else Fraction(0), node.places)

    def _round(self, value: Fraction, places: int | None) -> Fraction:
        return value if places is None else round_to(value, places, self.mode)

    def score(self, facts: dict[str, Any]) -> dict[str, Any]:
        """``{"total": Fraction, "grade": label, "scores": {id: Fraction | None}}``."""
        indicators = facts.get("indicators", {})
        shared = facts.get("shared", {})
        rows = {
            leaf.id: self._leaf(leaf, indicators, shared)[1]
            for leaf in self.nodes.values()
            if leaf.formula is not None
        }
        total, scores, applicable = self._aggregate(rows)
        if total is None:
            raise OracleError("nothing to score")
        return {
            "total": total,
            "grade": self._band(total),
            "scores": scores,
            "gap": self._gap(total, rows, applicable),
            "losses": self._losses(scores),
        }

    def _aggregate(
        self, rows: dict[str, Fraction | None]
    ) -> tuple[Fraction | None, dict[str, Fraction | None], Fraction]:
        """The total, every score and the applicable weight, from the rows' rounded scores.

        A node's score is the sum of its counted children's scores, rounded at its places;
        rows not counted are scored and shown but added to nothing. The total renormalises
        rows left out: to ``max`` (sum × max / applicable), or under ``fit = "cap"`` to the
        rows' own maximum, then never more than ``max``.
        """
        scores: dict[str, Fraction | None] = {}
        applicable: dict[str, Fraction] = {}

        def visit(node: Node) -> Fraction | None:
            if node.formula is not None:
                value = rows[node.id]
                scores[node.id] = value
                applicable[node.id] = Fraction(0) if value is None else node.weight
                return value
            parts = [(child, visit(child)) for child in node.children]
            kept = [(c, value) for c, value in parts if value is not None and c.counted]
            applicable[node.id] = sum((applicable[c.id] for c, _ in kept), Fraction(0))
            if not kept:
                scores[node.id] = None
                return None
            total = sum((value for _, value in kept), Fraction(0))
            if node is self.root:
                scale_to = self.rows_max if self.fit == "cap" else self.max
                if applicable[node.id] not in (scale_to, 0):
                    total = total * scale_to / applicable[node.id]  # renormalise N/A away
                if self.fit == "cap":
                    total = min(total, self.max)
            value = self._round(total, node.places)
            scores[node.id] = value
            return value

        total = visit(self.root)
        del scores["(root)"]
        return total, scores, applicable["(root)"]

    def _band(self, total: Fraction) -> str:
        return next(
            (
                label
                for label, low, high in self.bands
                if low <= total < high or (total == high == self.max)
            ),
            # numbers-and-rounding.md: a total rounded above the maximum is in the top band
            next(label for label, _, high in self.bands if high == self.max),
        )

    def _lost(self, scores: dict[str, Fraction | None]) -> list[tuple[str, Fraction]]:
        """Counted rows that lost points (weight - score), the most first, ties by id."""
        lost = [
            (leaf.id, leaf.weight - value)
            for leaf in self.nodes.values()
            if leaf.formula is not None
            and leaf.reaches
            and (value := scores[leaf.id]) is not None
            and value != leaf.weight
        ]
        return sorted(lost, key=lambda row: (-row[1], row[0]))

    def _losses(self, scores: dict[str, Fraction | None]) -> list[tuple[str, Fraction]]:
        """Rows that lost points (weight - score), the most first, ties by id (docs: losses)."""
        return self._lost(scores)

    def _gap(
        self, total: Fraction, rows: dict[str, Fraction | None], applicable: Fraction
    ) -> tuple[str, Fraction, Fraction, tuple[tuple[str, Fraction], ...]] | None:
        """The band above, and the fewest of the losing rows that at full marks reach it.

        Each row is listed with the points it would add to the total: its loss, weighed by
        max / applicable when rows were renormalised away (the rows' own maximum under
        ``fit = "cap"``). None in the top band; no rows when even all of them fall short.
        """
        above = [(low, label) for label, low, _ in self.bands if low > total]
        if not above:
            return None
        low, label = min(above)
        scale_to = self.rows_max if self.fit == "cap" else self.max
        weigh = scale_to / applicable if applicable not in (scale_to, 0) else Fraction(1)
        losing = self._lost(rows)
        raised = dict(rows)
        for count, (ident, _) in enumerate(losing, start=1):
            node = self.nodes[ident]
            raised[ident] = self._round(node.weight, node.places)
            reached, _, _ = self._aggregate(raised)
            if reached is not None and reached >= low:
                chosen = tuple((i, lost * weigh) for i, lost in losing[:count])
                return label, low, low - total, chosen
        return label, low, low - total, ()


def _names(formula: Formula | None, named: dict[str, str]) -> set[str]:
    out: set[str] = set()
    if formula is None:
        return out
    functions = {
        "min", "max", "abs", "clamp", "floor", "ceil", "ratio", "reverse_ratio", "steps",
        "lookup", "count", "missing", "checklist",
    }  # fmt: skip
    for node in ast.walk(formula.tree):
        if isinstance(node, ast.Name) and node.id not in functions:
            if node.id in named:
                out |= _names(Formula(named[node.id], named), named)
            else:
                out.add(node.id)
    return out
