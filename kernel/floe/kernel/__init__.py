"""The kernel: what plugin authors and every programming model build on.

It holds the plugin manager and the typed facade over the hooks, settings, the event bus,
the store protocol and the memory store, the journal of a run and its replay index, a
run's state as every model executes it, the models of stored records and their one
converter, errors, logging's correlation fields, retry policies, secrets and the sealing
of stored values, artifact and secret store protocols, and the state registry that state
packs fill.

It imports no programming model (``floe.workflows``, ``floe.components``, ``floe.graph``)
and no plugin; the import-linter contracts in ``pyproject.toml`` hold it to that. Nothing
here is imported by users directly: the public names are re-exported by ``floe``,
``floe.hookspecs``, ``floe.storage`` and ``floe.testing``.
"""
