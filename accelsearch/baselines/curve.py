"""``accelsearch.baselines.curve``: the same module as :mod:`accelsearch.baselines_curve`.

The baselines step lives beside the pipeline that runs it, in the application layer's own
folder; this old path stays an alias of that module (one module object, so monkeypatching
and pickles by the old path keep working).
"""

import sys

from accelsearch import baselines_curve

sys.modules[__name__] = baselines_curve
