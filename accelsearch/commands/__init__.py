"""The handlers of the ``accelsearch`` CLI's sub-commands, one module each.

A module here holds what its command does (``handler(args) -> int``) and imports what it
needs at module level; its arguments are declared in :mod:`accelsearch.cli_args`, and
:mod:`accelsearch.cli` imports only the module of the command being run.
"""
