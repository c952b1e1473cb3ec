"""How benchmarks show numbers: short numbers, markdown tables, and the machine-readable last line."""

from __future__ import annotations


def number(value, digits: int = 3) -> str:
    """`-` for None, `digits` significant digits for a fractional float, whole floats and other values as they are."""
    if value is None:
        return "-"
    if isinstance(value, float) and not value.is_integer():
        return f"{value:.{digits}g}"
    return f"{value:g}" if isinstance(value, float) else str(value)


def markdown_table(rows: dict[str, dict], columns: list[str], header: list[str] | None = None) -> list[str]:
    """The lines of a markdown table: a row per set (`rows`: name -> values), cells `row[column]` for `columns`
    (`-` when missing or None, else 3 significant digits), headed `set | <header or columns>`."""
    table = ["| set | " + " | ".join(header or columns) + " |", "|---|" + "---:|" * len(columns)]
    for name, row in rows.items():
        cells = [row.get(column) for column in columns]
        table.append(f"| {name} | " + " | ".join("-" if cell is None else f"{cell:.3g}" for cell in cells) + " |")
    return table


def result_line(values: dict) -> str:
    """`RESULT key=value ...`, each value as `str` (format numbers before), the last line every benchmark prints."""
    return "RESULT " + " ".join(f"{key}={value}" for key, value in values.items())
