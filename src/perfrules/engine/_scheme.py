"""A compiled scheme: the generated scorer, the general path of an indicator, the results.

A :class:`CompiledScheme` is immutable and holds no per-call state, so one instance can
score many units from many threads at once. ``evaluate`` runs the generated function
(``_kernel``); the indicators it cannot score inline come to ``_general.GeneralPath.score``,
the one complete implementation of an indicator's scoring, which also reports every problem
with its position. The result keeps the raw record; ``_record``, ``_tree`` and ``_json``
build its parts and the trace from it when they are read.
"""

from __future__ import annotations

from collections.abc import Callable, Container, Iterable, Iterator, Mapping, Sequence
from decimal import Decimal
from fractions import Fraction
from functools import partial
from typing import TYPE_CHECKING, Any, Final, NoReturn, cast

from perfrules._numbers import from_decimal
from perfrules.engine._assemble import Evaluation
from perfrules.engine._cohort import (
    CohortValues,
    Problems,
    unit_name,
)
from perfrules.engine._cohorts import Cohorts, shared_of
from perfrules.engine._general import GeneralPath, Unit
from perfrules.engine._grading import gap_for, grade_of, loss_order
from perfrules.engine._impute import DataGaps, data_gaps, unranked
from perfrules.engine._kernel import EMPTY, build_kernel
from perfrules.engine._plan import Plan, build_plan
from perfrules.engine._stages import Stage, Staged, stage_scheme
from perfrules.engine._totals import totals_of
from perfrules.engine._workers import evaluate_in_processes
from perfrules.errors import FactsError
from perfrules.expressions import Value
from perfrules.facts import Facts
from perfrules.model import Scheme
from perfrules.rules import checked
from perfrules.trace import Gap, Grade, Rank, Result, Unranked

if TYPE_CHECKING:
    from perfrules.engine._columns import Arrays, ColumnarPlan

__all__ = ["CompiledScheme", "Unit", "with_weights"]  # Unit: from _general, where it lives

_RESERVED_FACTS: Final = frozenset({"override", "na", "note"})
_FACT_TABLE_KEYS: Final = frozenset({"value", "text", "level", "share", "note"})
_ZERO: Final = Fraction(0)


class CompiledScheme:
    """A scheme ready to score units: compile once, evaluate many times, from any thread."""

    def __init__(self, plan: Plan) -> None:
        """Generate the scorer of *plan* (use :func:`compile_scheme`)."""
        self.plan = plan
        self.scheme: Scheme = plan.scheme
        #: The scheme as written (:attr:`scheme` is what is scored: the same, except that
        #: each normalised group is written out as a row after it).
        self.written: Scheme = plan.written or plan.scheme
        inputs = plan.scheme.inputs
        #: The declared type of every input (``number``, ``bool`` or ``level``) by name.
        self.types: Mapping[str, str] = {name: declared.type for name, declared in inputs.items()}
        self.totals = totals_of(plan)
        self.general = general = GeneralPath(plan, self.types, self.totals)
        fast_keys = {i: keys - {"na", "override"} for i, keys in general.allowed.items()}
        self.kernel = build_kernel(
            plan,
            self.types,
            fast_keys,
            {
                "_GEN": general.score,
                "_NEWUNIT": Unit,
                "_SHAPE": general.shape,
                "_SHARED": general.shared,
                "_NOTHING": general.nothing,
                "_RENORM": self.totals.renormalise,
                "_OVERRIDE": general.override_grade,
            },
        )
        self._run = self.kernel.function
        self.cohorts = Cohorts(plan, general)
        self._stages: tuple[Stage, ...] | None = None

    @property
    def id(self) -> str:
        """The scheme id."""
        return self.plan.scheme.scheme.id

    @property
    def sha256(self) -> str:
        """Content hash of the scheme (canonical JSON, independent of layout and comments)."""
        return self.plan.sha256

    def evaluate(
        self,
        facts: Facts | Mapping[str, Any],
        *,
        trace: bool = True,
        cohort: CohortValues | None = None,
    ) -> Result:
        """Score one unit.

        Args:
            facts: a :class:`Facts` (from :func:`load_facts`) or plain data: either
                ``{"indicators": {id: {name: value}}, "shared": {...}, "unit": "..."}`` or
                simply ``{id: {name: value}}``.
            trace: keep what the trace needs (it is built only when read); ``False`` makes
                ``result.trace`` ``None``. Anything but ``True`` or ``False`` is a
                ``TypeError`` (``trace="no"`` would otherwise be true).
            cohort: the values of the unit's cohort, from :meth:`cohort_values` over every
                unit scored together; required by a scheme that declares ``[cohort]``
                values (use :meth:`evaluate_cohort` to score and rank a whole cohort).

        Returns:
            The unit's :class:`~perfrules.Result` (its total, grade, every score and the
            trace that explains them).

        Raises:
            FactsError: every problem with the facts at once (missing or malformed values,
                a formula that fails on them, a score outside its weight, a cohort value
                the unit cannot be scored without).

        Examples:
            >>> scheme = perfrules.load_pack("examples/xinzhou-zfw-2021")
            >>> compiled = perfrules.compile_scheme(scheme)
            >>> ids = list(compiled.scheme.indicators)
            >>> result = compiled.evaluate({i: {"actual": "90%"} for i in ids})
            >>> result.total, result.grade.label, result.scores["群众满意度"]
            (Decimal('84.66'), '良好', Decimal('4.50'))
            >>> compiled.evaluate({ids[0]: {"actual": "0,9"}})
            Traceback (most recent call last):
            ...
            perfrules.errors.FactsError: ...
        """
        if trace is not True and trace is not False:
            _not_a_flag("evaluate", trace)
        source, indicators, shared = _parts(facts)
        # Not a table (None, a list): nothing to score, and that alone is said.
        if indicators.__class__ is not dict and not isinstance(indicators, Mapping):
            unit = Unit(source)
            self.general.shape(indicators, unit)
            raise FactsError(unit.diagnostics)
        top = self.general.top_keys(facts)
        if shared and isinstance(shared, Mapping) and not shared.keys() <= self.plan.shared_inputs:
            top = [*top, *self.general.unknown_shared(source, shared)]
        binding = None
        if cohort is not None or self.plan.cohort_names or self.plan.imputations:
            shared, binding = self.cohorts.bind(source, indicators, shared, cohort)
        if self.plan.stages.own:
            shared = self._own_scores(facts, shared, cohort)
        out = self._run(source, indicators, shared, trace)
        unit = out[0]
        if top or (unit is not None and unit.diagnostics):
            raise FactsError([*top, *(unit.diagnostics if unit is not None else ())])
        evaluation = Evaluation(self.plan, facts, out, trace, binding)
        if binding is not None and self.imputes:  # scored with its cohort: say what was imputed
            evaluation.imputed = self.data_gaps(facts, cohort).imputed
        return Result.lazy(evaluation)

    @property
    def stages(self) -> tuple[Stage, ...]:
        """The passes before the last, for a scheme whose rows read scores (else none).

        Each is scored over every unit before the next; see :mod:`perfrules.engine._stages`.
        """
        found = self._stages
        if found is None:
            order = self.plan.stages
            rules = self.scheme.cohort.values if self.scheme.cohort is not None else {}
            found = self._stages = tuple(
                Stage(
                    at,
                    CompiledScheme(build_plan(checked(stage_scheme(self.scheme, order, at)))),
                    {n: r for n, r in rules.items() if order.value_pass(n) == at},
                    self,
                )
                for at in range(order.passes)
            )
        return found

    def _own_scores(
        self, facts: Facts | Mapping[str, Any], shared: Any, cohort: CohortValues | None
    ) -> Any:
        """*shared* with the unit's own scores its formulas read, from the pass before."""
        if not isinstance(shared, Mapping):
            return shared  # the scorer reports it
        before = self.stages[-1].compiled
        result = before.evaluate(facts, trace=False, cohort=cohort)
        bound = dict(shared)
        for name in sorted(self.plan.stages.own):
            value = before.exact_score(result, name)
            if value is not None:
                bound[name] = value
        return bound

    def stage_values(
        self, known: CohortValues, units: Sequence[Facts | Mapping[str, Any]]
    ) -> CohortValues:
        """*known* (the values over facts) with every value taken over scores.

        Each pass scores every unit (untraced) with the values known so far; a unit that
        fails is left out of the values taken after it, as of those over facts, and kept
        among the problems with its reason.
        """
        for stage in self.stages:
            rows: list[Staged] = []
            failed: dict[int, FactsError] = {}
            for position, facts in enumerate(units):
                name = unit_name(facts, position)
                if position in known.problems:
                    continue
                try:
                    result = stage.compiled.evaluate(facts, trace=False, cohort=known)
                except FactsError as exc:
                    failed[position] = exc  # its own reason, not a later pass's
                    continue
                evaluation = result._source  # noqa: SLF001 - our own result
                assert isinstance(evaluation, Evaluation)  # noqa: S101
                keys = stage.keys(shared_of(facts), partial(stage.compiled.exact_score, result))
                rows.append((position, name, keys, evaluation.cohort_key))
            known = stage.take(known, rows, failed)
        return known

    def problems(self, facts: Facts | None = None) -> Unit:
        """A collector of one unit's problems (placed in *facts* when given)."""
        return Unit(facts)

    def columnar(self) -> ColumnarPlan:
        """Whether every regular row can be scored as arrays, and why not when it cannot.

        Needs the ``frame`` extra (numpy); made once per scheme.
        """
        from perfrules.engine._columns import columnar_plan  # noqa: PLC0415 - frame extra

        found = self.plan.cache.get("columnar")
        if found is None:
            found = self.plan.cache.setdefault("columnar", columnar_plan(self.plan, self.types))
        return cast("ColumnarPlan", found)

    def score_columns(
        self,
        inputs: Mapping[int, Mapping[str, Any]],
        regular: Any,
        *,
        weights: Mapping[str, Decimal] | None = None,
        out: Mapping[int, Any] | None = None,
    ) -> Arrays:
        """The regular rows of a table scored as arrays (:func:`score_arrays`).

        *inputs* hold each indicator's operands read in the lookup order; *regular* the rows
        whose every cell was read plainly; *out*, by node index, int64 arrays to write
        scores into (a result's columns). Needs the ``frame`` extra.

        With *weights* (by group or indicator id) the rows are scored under those weights
        instead of the declared ones: the scheme with them (:func:`with_weights`) is
        checked as any scheme is (``RuleFileError`` when they break a sum) and scored as
        arrays without generating its scalar scorer. The operands are the same (no input
        depends on a weight); ``scores`` and ``scales`` stay by this scheme's node index.

        Raises:
            ValueError: the scheme is not scored as arrays (:meth:`columnar`).
        """
        from perfrules.engine._columns import (  # noqa: PLC0415 - frame extra
            Arrays,
            columnar_plan,
            score_arrays,
        )

        if weights is None:
            return score_arrays(self.columnar(), inputs, regular, out)
        plan = build_plan(checked(with_weights(self.scheme, weights)))
        columnar = columnar_plan(plan, self.types)
        if not columnar.vectorised:
            raise ValueError(columnar.reason)
        # The same tree: node by node through the ids (the order of siblings is the same
        # when the scheme keeps its rule file, but an id is what names a node).
        theirs = {0: 0} | {i: plan.by_id[self.plan.nodes[i].id] for i in self.plan.by_id.values()}
        ours = {j: i for i, j in theirs.items()}
        got = score_arrays(columnar, {theirs[i]: ops for i, ops in inputs.items()}, regular)
        return Arrays(
            got.regular,
            {ours[j]: values for j, values in got.scores.items()},
            {ours[j]: places for j, places in got.scales.items()},
            got.total,
            got.band,
        )

    def cohort_values(self, units: Iterable[Facts | Mapping[str, Any]]) -> CohortValues:
        """The first pass of cohort scoring: every cohort's values over *units*.

        Reads each unit's cohort (``group_by``), whether it qualifies (``where``) and the
        fact each value is taken over; keeps only those, not the units. A unit whose facts
        cannot be read for this is left out of the values, and its problems are kept in
        ``problems`` by its position.

        A value taken over scores (``of = "total"``, a group's id) comes after scoring
        every unit as far as it needs (:attr:`stages`): then *units* are read once per
        pass, a stream kept in a list.

        Args:
            units: every unit scored together, as :meth:`evaluate` takes them (an iterable
                is read once when every value is over facts, so a stream of any length is
                fine).

        Returns:
            The values of each cohort, to pass to :meth:`evaluate` as ``cohort=`` for each
            unit (one unit, a partition of a table, in any process).
        """
        if not self.stages:
            return self.cohorts.values(units)
        listed = units if isinstance(units, Sequence) else list(units)
        return self.stage_values(self.facts_values(listed), listed)

    def facts_values(self, units: Iterable[Facts | Mapping[str, Any]]) -> CohortValues:
        """The cohort values taken over facts only (the first pass; :meth:`cohort_values`).

        A shape that scores the passes of a scheme whose values are taken over scores
        itself (a table, a stream, Dask) starts from these and adds each pass's values
        with :meth:`Stage.take`.
        """
        return self.cohorts.values(units)

    def evaluate_cohort(
        self,
        units: Iterable[Facts | Mapping[str, Any]],
        *,
        trace: bool = True,
        traced: Container[int] | None = None,
    ) -> list[Result | FactsError]:
        """Score every unit of one or more cohorts together, then rank them.

        The cohort values are taken over *units* (:meth:`cohort_values`), each unit is
        scored with its cohort's values, and ``[ranking]`` ranks the scored units of each
        cohort (``result.rank``; explained in ``result.trace.cohort``). A unit whose facts
        fail comes back as its ``FactsError``, in its place; the others are scored.

        Args:
            units: every unit of the cohorts, as :meth:`evaluate` takes them (a unit's
                ``group_by`` fact says its cohort; ``unit`` names it in explanations).
            trace: keep what each result's trace needs.
            traced: when given, the positions (from 0) of the only units whose trace is
                kept, whatever *trace* says: explaining one unit of a large cohort keeps
                one trace, not one per unit. Scores and ranks are the same either way.

        Returns:
            One :class:`~perfrules.Result` or ``FactsError`` per unit, in the order given.
        """
        if trace is not True and trace is not False:
            _not_a_flag("evaluate_cohort", trace)
        listed = list(units)
        cohort = self.cohort_values(listed)
        results: list[Result | FactsError] = []
        for position, facts in enumerate(listed):
            failed = cohort.problems.get(position)
            if failed is not None:
                results.append(failed)
                continue
            explained = trace if traced is None else position in traced
            try:
                results.append(self.evaluate(facts, trace=explained, cohort=cohort))
            except FactsError as exc:
                results.append(exc)
        ranking = self.scheme.ranking
        if ranking is not None and ranking.min_available is not None:
            for facts, result in zip(listed, results, strict=True):
                if isinstance(result, FactsError):
                    continue
                evaluation = result._source  # noqa: SLF001 - our own result
                assert isinstance(evaluation, Evaluation)  # noqa: S101
                evaluation.unranked = self.unranked(self.data_gaps(facts, cohort))
        if ranking is not None:
            rows = []
            for position, (facts, result) in enumerate(zip(listed, results, strict=True)):
                if isinstance(result, FactsError):
                    continue
                evaluation = result._source  # noqa: SLF001 - our own result
                assert isinstance(evaluation, Evaluation)  # noqa: S101
                if evaluation.unranked is not None:
                    continue  # too little of its data given ([ranking] min_available)
                keys = self.rank_keys(shared_of(facts), partial(self.exact_score, result))
                if keys is not None:
                    name = unit_name(facts, position)
                    rows.append((position, name, keys, evaluation.cohort_key))
            for position, placed in self.cohorts.rank(rows).items():
                ranked = results[position]._source  # type: ignore[union-attr]  # noqa: SLF001
                assert isinstance(ranked, Evaluation)  # noqa: S101
                ranked.rank = placed
        return results

    @property
    def imputes(self) -> bool:
        """Whether any input is imputed when missing (a value, or from the other units)."""
        return any(declared.impute is not None for declared in self.scheme.inputs.values())

    def data_gaps(
        self, facts: Facts | Mapping[str, Any], cohort: CohortValues | None = None
    ) -> DataGaps:
        """What a unit's facts lack: the inputs imputed for it, how many indicators it gave.

        *cohort* are the values of the units scored with it (an input imputed from them
        counts as imputed only when its cohort has a value for it). Every shape asks this,
        for the ``imputed`` column and ``[ranking] min_available``.
        """
        _, indicators, shared = _parts(facts)
        pooled: Container[str] = ()
        if cohort is not None and self.plan.imputations and isinstance(shared, Mapping):
            key = self.cohorts.key(shared, Unit(None))
            pooled = self.cohorts.imputations_of(shared, key, cohort)
        return data_gaps(self.plan, self.general.marks_missing, indicators, shared, pooled)

    def unranked(self, gaps: DataGaps) -> Unranked | None:
        """Why ``[ranking] min_available`` leaves out a unit with *gaps* (``None``: not)."""
        return unranked(self.plan, gaps)

    def rank_keys(
        self, shared: Mapping[str, Any], score: Callable[[str | None], Fraction | None]
    ) -> tuple[Fraction | None, ...] | None:
        """The ranking keys of a scored unit (``None``: the ranking's ``where`` leaves it out).

        *shared* are the unit's shared facts; *score* gives its exact score of a group or
        indicator by id, and its total for ``None`` (as :meth:`exact_score` does). Every
        shape that ranks asks this, so they rank alike.
        """
        nodes = self.plan.nodes
        return self.cohorts.rank_keys(
            shared, lambda index: score(None if index == 0 else nodes[index].id)
        )

    def rank(
        self,
        rows: Iterable[tuple[int, str, tuple[Fraction | None, ...], str | None]],
        *,
        ties: str | None = None,
    ) -> dict[int, Rank]:
        """Ranks of rows ``(position, unit, keys, cohort key)``, each cohort on its own.

        *ties* (``competition``, ``dense``, ``ordinal``) replaces the scheme's tie rule.
        """
        return self.cohorts.rank(rows, ties)

    def rank_positions(self, keys: Sequence[Any], missing: Sequence[Any], cohorts: Any) -> Any:
        """The positions :meth:`rank` gives rows whose key values are integer arrays.

        For a shape that ranks the same units many times: *keys* hold one integer array per
        ranking key whose order and equalities are the exact values' (a score as an integer
        over its power of ten), *missing* flags the missing values, *cohorts* numbers each
        row's cohort. Rows in the order :meth:`rank` takes them; the answer is a numpy array
        of their positions. Needs the ``frame`` extra.
        """
        return self.cohorts.rank_positions(keys, missing, cohorts)

    def rank_shared(self, positions: Any, cohorts: Any) -> Any:
        """Which of :meth:`rank_positions`'s *positions* are shared (``Rank.shared``).

        *cohorts* as :meth:`rank_positions` took them; a numpy array of flags, one per row:
        a shared rank is the one ``[ranking] shared_mark`` is written before.
        """
        return self.cohorts.rank_shared(positions, cohorts)

    def cohort_key(self, shared: Mapping[str, Any], unit: Problems) -> str | None:
        """The unit's cohort: the text of its ``group_by`` fact (``None``: one cohort).

        *unit* collects the problem when the fact is missing (a :class:`Unit`).
        """
        return self.cohorts.key(shared, unit)

    def read_shared(self, name: str, raw: Any, unit: Problems) -> Value | object | None:
        """A shared fact as declared: its value, ``NOT_APPLICABLE``, or ``None``.

        *unit* collects the problem when *raw* cannot be read (a :class:`Unit`).
        """
        return self.general.read_shared(name, raw, unit)

    def evaluate_many(
        self,
        units: Iterable[Facts | Mapping[str, Any]],
        *,
        trace: bool = False,
        workers: int = 1,
    ) -> Iterator[Result | FactsError]:
        """Score many units lazily; a unit whose facts fail yields its ``FactsError``.

        With ``workers`` > 1 the units are scored in that many processes (each compiles the
        scheme once); results come back in order, without traces.

        Args:
            units: the units, as :meth:`evaluate` takes them; read as they are needed (512
                at a time with workers), so an endless stream is fine.
            trace: keep each result's trace (one process only).
            workers: processes to score in.

        Returns:
            An iterator of one :class:`~perfrules.Result` or ``FactsError`` per unit, in
            order. A scheme with cohort values needs :meth:`evaluate_cohort` instead.
        """
        if trace is not True and trace is not False:
            _not_a_flag("evaluate_many", trace)
        if workers > 1:
            yield from evaluate_in_processes(self, units, workers)
            return
        for facts in units:
            try:
                yield self.evaluate(facts, trace=trace)
            except FactsError as exc:
                yield exc

    def gap(self, result: Result) -> Gap | None:
        """The next band up for *result*, and the fewest indicators that would reach it.

        The same as ``result.trace.gap``, with or without a trace; ``None`` in the top band
        or when a grade override fired.

        Examples:
            >>> scheme = perfrules.load_pack("examples/xinzhou-zfw-2021")
            >>> compiled = perfrules.compile_scheme(scheme)
            >>> seed = perfrules.packs()["examples/xinzhou-zfw-2021"].folder / "facts.toml"
            >>> gap = compiled.gap(compiled.evaluate(perfrules.load_facts(seed), trace=False))
            >>> gap.label, gap.shortfall, gap.improve
            ('优秀', Fraction(3, 4), (('质量-市域治理', Fraction(123, 100)),))
        """
        source = result._source  # noqa: SLF001 - our own result
        if isinstance(source, Evaluation):
            return source.gap()
        if result.trace is not None:
            return result.trace.gap
        # A result made of plain values: its grade is a band of this plan, unless a grade
        # override named it (then there is no gap to close). Its scores are taken as given.
        position = next(
            (n for n, grade in enumerate(self.plan.grades) if grade == result.grade), None
        )
        if position is None:
            return None
        plan = self.plan
        scores = {i: _exact(result.scores.get(plan.nodes[i].id)) for i in plan.leaves}
        values, pres, excluded = self.totals.record(scores)
        losses = loss_order(plan, values)  # the one order the trace's losses have too
        return gap_for(plan, position, result.total_exact, losses, excluded, (values, pres))

    def grade_for(self, total: Fraction | Decimal | int) -> Grade:
        """The band a total of *total* falls in (what ``evaluate`` grades it), by the totals."""
        exact = Fraction(total)
        return grade_of(self.plan, self.totals.band_of(exact.numerator, exact.denominator))

    def total_for(self, scores: Mapping[str, Fraction | Decimal | int | None]) -> Fraction | None:
        """The total this scheme gives to indicators scoring *scores* (by id; rounded).

        An indicator absent or ``None`` is left out (renormalised as not applicable); rows
        not counted are not added; every level is rounded as declared; a group's score is
        ignored (it follows from its rows). ``None`` when no counted row is scored. An audit
        checks a published total with it.

        Raises:
            KeyError: an id that is no group or indicator of the scheme (a misspelt row
                would otherwise be taken as not applicable).
        """
        plan = self.plan
        by_index: dict[int, Fraction | None] = {}
        for ident, value in scores.items():
            index = plan.by_id.get(ident)
            if index is None:
                raise KeyError(f"the scheme has no group or indicator {ident!r}")
            if plan.nodes[index].kind == "indicator":
                by_index[index] = None if value is None else Fraction(value)
        values, _, _ = self.totals.record(by_index)
        num, den = values[0], values[1]
        return None if num is None else Fraction(num, den)

    def exact_score(self, result: Result, ident: str | None) -> Fraction | None:
        """The exact score of the group or indicator *ident* (``None``: the total).

        ``None`` when the row was left out. ``result.scores`` holds Decimals with the
        declared places; an unrounded score with a repeating decimal is exact only here.

        Raises:
            KeyError: no group or indicator has the id *ident*.
        """
        if ident is None:
            return result.total_exact
        index = self.plan.by_id.get(ident)
        if index is None:
            raise KeyError(f"the scheme has no group or indicator {ident!r}")
        return self._score_at(result, index)

    def _score_at(self, result: Result, index: int) -> Fraction | None:
        """The exact score of node *index* (0: the total)."""
        if index == 0:
            return result.total_exact
        source = result._source  # noqa: SLF001 - our own result
        if isinstance(source, Evaluation):
            return source.score(index)
        return _exact(result.scores.get(self.plan.nodes[index].id))

    def losses(self, result: Result) -> dict[str, Fraction]:
        """Points each counted, scored indicator of *result* lost, by id.

        Rows not counted and rows left out lose nothing from the total and are not listed.
        """
        plan = self.plan
        out: dict[str, Fraction] = {}
        for i in plan.counted_leaves:
            node = plan.nodes[i]
            score = self._score_at(result, i)
            if score is not None:
                out[node.id] = node.weight - score
        return out

    # --- helpers the generated scorer calls ----------------------------------------------


def _exact(value: Decimal | None) -> Fraction | None:
    """A score of a result made of plain values, as exact as its Decimal allows."""
    return None if value is None else from_decimal(value)


def with_weights(scheme: Scheme, weights: Mapping[str, Decimal]) -> Scheme:
    """A copy of *scheme* whose groups and indicators in *weights* (by id) weigh those.

    Nothing is checked here: compiling the copy checks it as any scheme is checked.
    """
    groups = {
        k: g.model_copy(update={"weight": weights[k]}) if k in weights else g
        for k, g in scheme.groups.items()
    }
    indicators = {
        k: i.model_copy(update={"weight": weights[k]}) if k in weights else i
        for k, i in scheme.indicators.items()
    }
    return scheme.model_copy(update={"groups": groups, "indicators": indicators})


def _not_a_flag(method: str, value: object) -> NoReturn:
    """``trace="no"`` would be true: a flag that is not ``True`` or ``False`` is refused."""
    msg = f"{method}(trace=...) takes True or False, not {value!r}"
    raise TypeError(msg)


def _parts(facts: Facts | Mapping[str, Any]) -> tuple[Facts | None, Any, Any]:
    """A unit's facts as :meth:`CompiledScheme.evaluate` reads them: source, indicators, shared."""
    if isinstance(facts, Facts):
        return facts, facts.indicators, facts.shared
    if facts.__class__ is not dict and not isinstance(facts, Mapping):  # None, a list: not one
        return None, facts, EMPTY
    if "indicators" in facts or "shared" in facts:
        return None, facts.get("indicators", EMPTY), facts.get("shared", EMPTY)
    return None, facts, EMPTY
