"""The ground floor: what every room stands on and nothing above it.

``arch`` (the ``Arch`` value object and its round trips), ``blocks`` (one description per
block type: build, chain rule, cost, fixed depth/width), ``block_costs`` (the analytic cost
rules, in counts), ``builder`` (the built-in block types, building an ``nn.Module``),
``errors``, ``registry`` (the one ``Registry``), ``accounting`` (FLOPs,
parameters, bytes), ``kinds`` and ``options`` (typed option checking). The rooms
(``accelsearch.spaces``, ``objectives``, ``scaling``, ``search``) and ``accelsearch.data``
import these modules by their ``accelsearch.core.*`` path; a module here imports no room.
The old paths (``accelsearch.arch``, ``accelsearch.builder``, ...) stay importable for users
as aliases of these modules in the application layer.
"""
