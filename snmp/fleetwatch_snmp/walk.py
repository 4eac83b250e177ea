"""A walk of table columns side by side (pure): which OIDs to ask next, answers checked and collected.

Each request carries every column still walking, at the last OID read of it. A GETBULK answer holds
rows of as many variables as the request had (the last row may be cut short); a GETNEXT answer holds
one row. A column ends at the first OID outside it (or endOfMibView); an OID that does not increase
is a malformed answer (a walk that would loop).
"""

from __future__ import annotations

from collections.abc import Sequence

from fleetwatch_snmp.errors import MALFORMED, PollError
from fleetwatch_snmp.oids import Oid, dotted
from fleetwatch_snmp.values import Missing, Value, Varbind

# Most rows of one column: far above any router (the largest recordings have ~3,300 interfaces),
# low enough to bound the memory of a walk that never ends.
MAX_ROWS = 20_000


class ColumnWalk:
    """The state of one walk: pending columns and the cells read, by column and instance."""

    def __init__(self, columns: Sequence[Oid], max_rows: int = MAX_ROWS) -> None:
        self._last: dict[Oid, Oid] = {column: column for column in columns}
        self._max_rows = max_rows
        self.cells: dict[Oid, dict[Oid, Value]] = {column: {} for column in columns}
        self.varbinds = 0

    @property
    def done(self) -> bool:
        return not self._last

    def request(self) -> tuple[list[Oid], list[Oid]]:
        """The columns still walking and the OIDs to ask next for them (in the same order)."""
        return list(self._last), list(self._last.values())

    def fewest_rows(self) -> int:
        """The fewest rows read of a column still walking (0 when none is)."""
        return min((len(self.cells[column]) for column in self._last), default=0)

    def finish(self, column: Oid) -> None:
        """End a column without another answer (SNMPv1 says noSuchName past the end)."""
        self._last.pop(column, None)

    def feed(self, columns: Sequence[Oid], varbinds: Sequence[Varbind]) -> None:
        """Take an answer to a request for ``columns`` (from ``request()``); PollError if malformed."""
        if not varbinds:
            raise PollError(MALFORMED, "unreadable answer: no variables in a response")
        width = len(columns)
        ended: set[Oid] = set()
        for position, (oid, value) in enumerate(varbinds):
            column = columns[position % width]
            if column in ended or column not in self._last:
                continue
            if value is Missing.END_OF_MIB_VIEW:
                ended.add(column)
                continue
            if oid <= self._last[column]:
                raise PollError(
                    MALFORMED,
                    f"unreadable answer: OID {dotted(oid)} does not follow {dotted(self._last[column])}",
                )
            size = len(column)
            if oid[:size] != column:
                ended.add(column)
                continue
            cells = self.cells[column]
            cells[oid[size:]] = value
            self._last[column] = oid
            self.varbinds += 1
            if len(cells) > self._max_rows:
                raise PollError(
                    MALFORMED, f"unreadable answer: column {dotted(column)} has over {self._max_rows} rows"
                )
        for column in ended:
            del self._last[column]
