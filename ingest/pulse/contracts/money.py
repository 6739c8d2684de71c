"""Money as Segment clients send it (decimal ``revenue``/``cost``/``value``) into exact integer micros.

JSON numbers reach Python as floats; ``repr`` of a float is the shortest decimal that reads back as
the same float, which is the literal the client wrote whenever it had at most 15 significant
digits. Converting through ``Decimal(repr(x))`` therefore carries ``19.99`` as 19,990,000 micros,
never 19,989,999 (``int(19.99 * 1e6)``). Strings (``"19.99"``) are read as decimals directly.
"""

from __future__ import annotations

from decimal import ROUND_HALF_EVEN, Decimal, InvalidOperation

MICROS = Decimal(1_000_000)
#: Micros fit ClickHouse's Int64 columns: about 9.2 trillion units of currency.
MAX_MICROS = 2**63 - 1


class BadAmount(ValueError):
    """The value is not an amount of money; the text says why."""


def decimal_of(value: object) -> Decimal:
    """The decimal a client meant by a JSON number or numeric string."""
    if isinstance(value, bool):
        raise BadAmount(f"{value!r} is not an amount")
    if isinstance(value, int):
        return Decimal(value)
    if isinstance(value, float):
        text = repr(value)
    elif isinstance(value, str):
        text = value.strip()
    else:
        raise BadAmount(f"{value!r} is not an amount")
    try:
        amount = Decimal(text)
    except InvalidOperation as error:
        raise BadAmount(f"{value!r} is not an amount") from error
    if not amount.is_finite():
        raise BadAmount(f"{value!r} is not a finite amount")
    return amount


def to_micros(value: object) -> tuple[int, bool]:
    """(micros, rounded): the amount in integer millionths; ``rounded`` when it had finer digits."""
    amount = decimal_of(value) * MICROS
    micros = amount.to_integral_value(rounding=ROUND_HALF_EVEN)
    if abs(micros) > MAX_MICROS:
        raise BadAmount(f"{value!r} is too large an amount")
    return int(micros), micros != amount
