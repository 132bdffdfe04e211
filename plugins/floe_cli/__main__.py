"""``python -m floe_cli``: the same as the ``floe`` command."""

from floe_cli import main

raise SystemExit(main())
