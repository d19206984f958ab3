"""A customer formula as the sum of its terms: what the scorer adds up, term by term.

An analyst asking why a customer scored what it did wants each part of the formula
(`demand_cny`, `1.5 * demand_fx`, `-card_overdraft` ...) with its value, and those values
must add up to the score exactly. So the scorer itself computes a formula as the sum of
its top-level terms (`formula_value`), and `crm-pipeline explain` reads the same terms
(`term_values`): there is one scorer, not a second one for explanations.

The terms are the operands of the formula's outermost chain of `+` and `-` (inside
parentheses too: `a - (b + c)` is `a`, `-b`, `-c`); a subtracted term is wrapped in a
negation, so every term's value is signed and the score is their plain sum. Summing the
signed terms in order is the same exact arithmetic as evaluating the tree (`ratio` is
exact), so the scores are those of evaluating the formula whole.
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal
from fractions import Fraction

from transform.scoring import expression as tree
from transform.scoring.decimal_ops import Value
from transform.scoring.evaluate import Evaluator, arithmetic, as_ratio
from transform.scoring.ratio import Ratio, full

__all__ = ["Term", "formula_terms", "formula_text", "formula_value", "fraction_at", "term_values"]


@dataclass(frozen=True)
class Term:
    """One signed term of a formula: `node` already carries its sign (a `Neg` when
    subtracted); `name` is its canonical text, as an analyst reads it."""

    name: str
    node: tree.Node


def _name(node: tree.Node, negative: bool) -> str:
    text = tree.render(node)
    if text.startswith("(") and text.endswith(")"):
        text = text[1:-1]
    return f"-{text}" if negative else text


def _flatten(node: tree.Node, negative: bool) -> list[Term]:
    """The signed terms, in order, with an explicit stack: a 400-term sum is a chain 400
    deep, which a recursion per term would not survive (`formula check` admits it)."""
    terms: list[Term] = []
    stack = [(node, negative)]
    while stack:
        current, sign = stack.pop()
        if isinstance(current, tree.Bin) and current.op in "+-":
            stack.append((current.right, sign != (current.op == "-")))
            stack.append((current.left, sign))
            continue
        signed = tree.Neg(current.pos, current) if sign else current
        terms.append(Term(_name(current, sign), signed))
    return terms


def formula_terms(formula: tree.Node) -> list[Term]:
    """The signed terms whose sum is `formula`, in the order they are written."""
    return _flatten(formula, False)


def formula_text(formula: tree.Node) -> str:
    """The formula as the sum of its terms, for reading (`a + 1.5 * b - c`)."""
    parts = [term.name for term in formula_terms(formula)]
    text = parts[0]
    for part in parts[1:]:
        text += f" - {part[1:]}" if part.startswith("-") else f" + {part}"
    return text


def term_values(evaluator: Evaluator, formula: tree.Node) -> list[tuple[Term, Value]]:
    """Each term with its exact value over the evaluator's rows (a Ratio or a constant)."""
    return [(term, evaluator(term.node)) for term in formula_terms(formula)]


def formula_value(evaluator: Evaluator, formula: tree.Node) -> Ratio:
    """The formula's exact value per row: the sum of its terms, in order (the score,
    before its one rounding). Each term is added as soon as it is computed, so only the
    running sum and one term are held (a province's chunk of customers, not a copy of it
    per term)."""
    terms = iter(formula_terms(formula))
    total = evaluator(next(terms).node)
    for term in terms:
        total = arithmetic("+", total, evaluator(term.node))
    return evaluator.column_of(total)


def fraction_at(value: Value, row: int, length: int) -> Fraction:
    """One row's exact value of a term or formula value, as a Fraction."""
    ratio = full(as_ratio(value), length)  # its numerator is a column of `length` rows
    assert not isinstance(ratio.num, Decimal)
    num = ratio.num[row].as_py()
    den = ratio.den if isinstance(ratio.den, int) else int(ratio.den[row].as_py())
    return Fraction(num) / den
