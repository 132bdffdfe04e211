"""What every command receives: the kernel the command line built, not yet started."""

from __future__ import annotations

import attrs

import floe


@attrs.frozen
class CliState:
    """The ``click`` context object (``obj``) of every ``floe`` command.

    A command that needs the store enters the kernel (``async with state.kernel:``);
    building the command line opens nothing.
    """

    kernel: floe.Kernel
    """The kernel with every plugin loaded, built from the settings and ``--store``."""
    show_traceback: bool = False
    """Whether errors print their traceback (``--traceback`` or ``FLOE_DEBUG=1``)."""

    @property
    def settings(self) -> floe.Settings:
        """The settings in effect for this command."""
        return self.kernel.settings
