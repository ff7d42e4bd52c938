"""``accelsearch.registry``, the path users know: the same module as :mod:`accelsearch.core.registry`.

The ground floor moved to :mod:`accelsearch.core`; this name stays an alias of that module
(one module object, so its names, monkeypatching and pickles by the old path all keep
working). Part of the application layer: rooms import ``accelsearch.core.registry``.
"""

import sys

from accelsearch.core import registry

sys.modules[__name__] = registry
