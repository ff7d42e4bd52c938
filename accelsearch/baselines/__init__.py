"""Published models measured beside a found family: the ``baselines`` recipe section and
``accelsearch compare``.

Named timm models (EfficientNet-B0…B3, ResNet-18/34/50, GENet s/m/l, ...) are measured with
the run's own latency protocol (backend, device, precision, batch size, timing protocol) and
proxy-trained with the run's own accuracy evaluator, then set beside the family: a plot
(``family_vs_baselines.png``), a table in ``summary.md`` with each model's published
ImageNet top-1 beside its proxy accuracy, MLflow child runs of the family run tagged
``accelsearch.kind = baseline``, and, per baseline line (models grouped by name, e.g.
``efficientnet_b{0,1,2,3}``), the speed-up at equal proxy accuracy and the accuracy gain at
equal latency, interpolated on the family's curve. Results go to ``baselines.json`` in the
run folder; a model measured there already is not measured again.

The step's modules sit in the application layer's folder beside the pipeline that runs it:
:mod:`accelsearch.baselines_spec` (the recipe section, names, lines),
:mod:`accelsearch.baselines_curve` (the comparison maths), :mod:`accelsearch.baselines_preflight`
(checks before any measurement), :mod:`accelsearch.baselines_measure` (measuring and the
resumable store), :mod:`accelsearch.baselines_output` (plot, markdown, MLflow),
:mod:`accelsearch.baselines_step` (the whole step, as the pipeline and the command run it) and
:mod:`accelsearch.baselines_compare` (``accelsearch compare`` on a finished run). The old
paths (``accelsearch.baselines.measure``, ...) stay as aliases of those modules.
"""

from __future__ import annotations

from accelsearch.baselines_spec import BaselinesSpec, check_names, group_lines, line_of

__all__ = ["BaselinesSpec", "check_names", "group_lines", "line_of"]
