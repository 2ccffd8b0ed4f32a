"""Snakemake logger plugin ``qmrflow`` (``--logger qmrflow``): a quiet console.

One line per finished job with the progress count, one line per failed job with its log, and
Snakemake's warnings and errors (:class:`qmrflow.workflow.console.QuietConsole`). Snakemake's
log file (``.snakemake/log``) keeps every job's full block. ``--logger-qmrflow-verbose`` prints
the full blocks, reasons included, on the console too, as Snakemake does without the plugin.
"""

# No `from __future__ import annotations`: Snakemake reads the settings' field types as types.
import logging
import sys
from dataclasses import dataclass, field

from snakemake_interface_logger_plugins.base import LogHandlerBase
from snakemake_interface_logger_plugins.settings import LogHandlerSettingsBase


@dataclass
class LogHandlerSettings(LogHandlerSettingsBase):
    """``--logger-qmrflow-verbose``: the full job blocks, reasons included, on the console."""

    verbose: bool = field(
        default=False,
        metadata={
            "help": "Print every job's full block (input, output, reason, wildcards, ...) "
            "as Snakemake does by default, instead of one line per finished job."
        },
    )


class LogHandler(LogHandlerBase):
    """The console handler: quiet, or Snakemake's own formatting when verbose."""

    def __post_init__(self) -> None:
        # Imported here: Snakemake imports every logger plugin at each start, used or not.
        from qmrflow.workflow.console import QuietConsole

        self.verbose = bool(self.settings and self.settings.verbose)
        self.quiet = QuietConsole(
            printshellcmds=bool(self.common_settings.printshellcmds),
            dryrun=bool(self.common_settings.dryrun),
        )

    def emit(self, record: logging.LogRecord) -> None:
        """Write the record: Snakemake's format when verbose, else the quiet line(s)."""
        if not self.verbose:
            self.quiet.emit(record)
            return
        try:
            text = self.format(record)
            if text and text != "None":
                sys.stderr.write(f"{text}\n")
                sys.stderr.flush()
        except Exception:
            self.handleError(record)

    @property
    def writes_to_stream(self) -> bool:
        return True

    @property
    def writes_to_file(self) -> bool:
        return False

    @property
    def has_filter(self) -> bool:
        return not self.verbose

    @property
    def has_formatter(self) -> bool:
        return not self.verbose

    @property
    def needs_rulegraph(self) -> bool:
        return False
