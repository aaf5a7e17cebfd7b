"""Incident report exports: what happened, to which hosts, what was done, what is still open.

    with open_reader("incident.db") as reader:
        report = read_report(reader, tags=("site=paris",))
    text = render(report, "html")

`read_report` is the one place that reads the incident database; it builds a `Report` of frozen
values holding only whitelisted fields (a password someone put in an action's output or an
audit row's details never reaches a `Report`). One renderer per format turns a `Report` into
text; none of them reads the database, so every format shows the same numbers.
"""

from fleetfix.export.build import read_report
from fleetfix.export.model import Report
from fleetfix.export.render import FORMATS, render
from fleetfix.export.write import write_report

__all__ = ["FORMATS", "Report", "read_report", "render", "write_report"]
