"""The CLI's consoles: every `facegate` command prints through these, so each line it prints arrives whole.

Rich wraps printed text at the console's width, which is 80 columns when the output is not a terminal (CI
logs, cron mail, `| grep`), so a message longer than that arrived split mid-sentence and a grep of the log
missed it. These consoles soft-wrap: `print` never breaks a line (a terminal folds a long one on screen).
They read no markup either: what a command prints holds names people typed (a person, door or group named
`[/]` ended a listing with rich's MarkupError, one named `[red]Eve` showed as `Eve`), paths and hints such as
`pip install 'facegate[train]'`, so a printed string or a table's cell is shown as written; a styled word is
passed as a `rich.text.Text` (or with `markup=True` on a literal).
A table is printed with `print_table`: rich lays its columns out to the width whatever the wrap mode (each
cell wraps in its column), but soft wrap would leave its title at the left edge instead of centred. No cell
is cut: rich ended a word longer than its column with `…` (a long door name in `facegate doors list`, which
an operator copies into a gate's configuration), and here it continues on the row's next lines. A
console's file is looked up at each print, so a test runner's swapped stdout and stderr are written to.
"""

from __future__ import annotations

from rich.console import Console
from rich.table import Table

__all__ = ["console", "err_console", "print_table", "wide_console"]

console = Console(soft_wrap=True, markup=False)
"""Standard output: what a command reports."""
err_console = Console(stderr=True, soft_wrap=True, markup=False)
"""Standard error: errors, warnings and progress."""


def wide_console(*, min_columns: int) -> Console:
    """A standard-output console whose tables lay out to at least `min_columns`, wider on a wider terminal
    (`facegate demo`'s audit table); its printed lines are not wrapped either, nor read as markup."""
    return Console(width=max(console.width, min_columns), soft_wrap=True, markup=False)


def print_table(table: Table, *, on: Console = console) -> None:
    """`table` laid out to the width of `on`, its title centred over it (wrapped if longer than the width);
    a word longer than its column is folded onto the cell's next lines, never cut."""
    for column in table.columns:
        column.overflow = "fold"
    on.print(table, soft_wrap=False)
