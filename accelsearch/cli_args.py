"""The ``accelsearch`` command line's arguments: one parser per command, and nothing heavy.

Each command's handler lives in :mod:`accelsearch.commands` (``accelsearch.commands.<module>``,
function ``<handler>``, named by the parser's ``handler`` default). :mod:`accelsearch.cli`
builds these parsers and imports only the module of the command being run, so ``accelsearch
--help`` and ``--version`` answer at once and a command's module imports what it needs at
module level. A new command: a parser function here (listed in ``PARSERS``) and its module.
"""

from __future__ import annotations

import accelsearch.data as packaged_data

#: the kinds of names ``accelsearch list`` shows: (title, the recipe field that takes one)
LIST_SECTIONS = (
    ("spaces", "space.name"),
    ("strategies", "search.strategy"),
    ("latency backends", "latency.backend"),
    ("accuracy evaluators", "accuracy.evaluator"),
)

#: what ``accelsearch ui --default-permission`` accepts (MLflow basic-auth's permissions)
AUTH_PERMISSIONS = ("READ", "EDIT", "MANAGE", "NO_PERMISSIONS")


def add_set_option(parser) -> None:
    """``--set KEY=VALUE`` (repeatable): the recipe overrides every recipe-taking command has."""
    parser.add_argument(
        "--set",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="override a recipe field, e.g. --set search.num_samples=2",
    )


def add_parsers(sub) -> None:
    """Every command's parser, in ``sub`` (``argparse``'s sub-parsers)."""
    for add in PARSERS:
        add(sub)


def _compare(sub) -> None:
    c = sub.add_parser(
        "compare",
        help="measure published timm models like a run's family and compare them with it",
        description=(
            "Measure timm models with the run's latency protocol and accuracy proxy and set "
            "them beside its family (speed-up at equal accuracy, accuracy gain at equal "
            "latency). Models already measured in the run's baselines.json are not measured "
            "again."
        ),
    )
    c.add_argument("run_dir", help="the run's folder (<workspace>/<name>-<stamp>) or its workspace")
    c.add_argument(
        "--baselines",
        metavar="NAMES",
        help="comma-separated timm model names, e.g. efficientnet_b0,efficientnet_b1,resnet50 "
        "(default: the recipe's baselines.models)",
    )
    c.add_argument(
        "--no-accuracy",
        dest="accuracy",
        action="store_false",
        default=None,
        help="time the models only; no proxy training (no accuracy comparison)",
    )
    c.add_argument(
        "--resolution",
        type=int,
        help="input size to build and time the models at (default: each model's own)",
    )
    c.add_argument("--tracking-uri", help="MLflow tracking URI (default: the one the run used)")
    c.add_argument(
        "--retry-failed", action="store_true", help="measure baselines that failed before again"
    )
    c.set_defaults(handler=("compare", "compare"))


def _listing(sub) -> None:
    s = sub.add_parser(
        "list",
        help="list the spaces, strategies, latency backends and accuracy evaluators a recipe "
        "can name",
    )
    s.add_argument(
        "kind",
        nargs="?",
        choices=[title.split()[0] for title, _ in LIST_SECTIONS],
        help="only this kind (default: all)",
    )
    s.set_defaults(handler=("listing", "list_names"))


def _resume(sub) -> None:
    r = sub.add_parser(
        "resume",
        help="continue an interrupted run: finished trials are kept, the searcher's state restored",
    )
    r.add_argument(
        "run_dir",
        help="the run's folder (<workspace>/<name>-<stamp>) or its workspace (latest run)",
    )
    r.add_argument("--tracking-uri", help="MLflow tracking URI (default: the one the run used)")
    r.add_argument("--address", help="Ray cluster to join ('auto' or host:port); default: local")
    r.add_argument(
        "--trust-checkpoints",
        action="store_true",
        help="resume even if Ray Tune's snapshot does not match the hashes recorded when it was "
        "written (it is read with pickle: only for a run folder you know nobody changed)",
    )
    r.set_defaults(handler=("resume", "resume"))


def _run(sub) -> None:
    r = sub.add_parser("run", help="search a space, then grow the best model into a family")
    r.add_argument("recipe", help="recipe YAML file (see recipes/)")
    r.add_argument("--output", help="workspace folder (default: runs/<recipe name>)")
    r.add_argument("--tracking-uri", help="MLflow tracking URI (default: SQLite in the workspace)")
    r.add_argument(
        "--offline",
        action="store_true",
        help="log to the workspace's SQLite store even when a tracking URI is set; "
        "upload later with `accelsearch sync --output DIR`",
    )
    r.add_argument("--address", help="Ray cluster to join ('auto' or host:port); default: local")
    add_set_option(r)
    r.set_defaults(handler=("run", "run"))


def _scale(sub) -> None:
    s = sub.add_parser(
        "scale",
        help="grow a model family from one base model with latency-aware compound scaling",
        description=(
            "Latency-aware compound scaling (LACS) from one base model to latency targets. "
            "Targets are ms ('1.0,2.0') or multiples of the base latency ('x1.5,x2')."
        ),
    )
    src = s.add_mutually_exclusive_group(required=True)
    src.add_argument("--base", metavar="ARCH.json", help="the base model's arch JSON file")
    src.add_argument(
        "--from-run", metavar="RUN_ID", help="an MLflow trial or member run with arch.json"
    )
    s.add_argument("--targets", required=True, help="e.g. 1.0,2.0,4.0 (ms) or x1.5,x2,x3")
    s.add_argument("--recipe", help="recipe YAML for latency/accuracy/reward/scaling settings")
    add_set_option(s)
    s.add_argument("--space", help="registered space of the base (rounding, building)")
    s.add_argument("--name", help="family name (default: the recipe's name or 'scale')")
    g = s.add_argument_group("latency")
    g.add_argument("--backend", help="latency backend (auto, torch, ...)")
    g.add_argument("--device", help="cpu, cuda, cuda:N")
    g.add_argument("--precision", help="fp32, fp16, bf16")
    g.add_argument("--batch-size", type=int)
    g = s.add_argument_group("accuracy and reward")
    g.add_argument("--evaluator", help="accuracy evaluator (default: train)")
    g.add_argument("--dataset", help="dataset of the train evaluator (digits, a folder, .tar.gz)")
    g.add_argument("--epochs", type=int, help="proxy-training epochs")
    g.add_argument("--base-accuracy", type=float, help="the base's accuracy (skips evaluating it)")
    g.add_argument("--reward-w", type=float, help="MnasNet reward exponent (default -0.09)")
    g = s.add_argument_group("scaling")
    g.add_argument("--grid", help="'default' or 'a,b,g;a,b,g;...'")
    g.add_argument("--max-triples", type=int, help="triples kept after pruning (default 6)")
    g.add_argument("--predictor", help="latency predictor for pruning: flops, lut, none")
    g.add_argument("--tolerance", type=float, help="relative latency tolerance (default 0.02)")
    g.add_argument("--max-measurements", type=int, help="per member and triple (default 12)")
    g.add_argument("--max-multiplier", type=float, help="largest α^φ, β^φ, γ^φ (default 8)")
    g.add_argument("--compare", choices=["efficientnet"], help="also grow a baseline family")
    g.add_argument(
        "--compare-phi",
        choices=["latency", "flops"],
        help="baseline φ: solved on latency (equal latency, default) or the FLOPs budget",
    )
    g = s.add_argument_group("output")
    g.add_argument("--output", help="workspace folder (default: runs/scale)")
    g.add_argument("--tracking-uri", help="MLflow store (default: SQLite in the workspace)")
    g.add_argument("--no-mlflow", action="store_true", help="do not log to MLflow")
    g.add_argument("--onnx", action="store_true", help="export one ONNX file per member")
    s.set_defaults(handler=("scale", "scale"))


def _submit(sub) -> None:
    s = sub.add_parser("submit", help="run a recipe on a Ray cluster as a Ray Job")
    s.add_argument("recipe", help="recipe YAML file")
    s.add_argument(
        "--address",
        required=True,
        help="the cluster's dashboard / job server, e.g. http://HEAD:8265",
    )
    s.add_argument(
        "--output",
        help="workspace folder on the cluster (default: $HOME/accelsearch-runs/<recipe name>)",
    )
    s.add_argument("--tracking-uri", help="MLflow tracking URI the job logs to")
    add_set_option(s)
    s.add_argument(
        "--working-dir", help="local folder uploaded with the job (your spaces, data lists)"
    )
    s.add_argument(
        "--import",
        dest="imports",
        action="append",
        default=[],
        metavar="MODULE",
        help="module to import on the cluster before the run (e.g. one in --working-dir that "
        "registers a custom space or evaluator); repeatable",
    )
    s.add_argument("--python", default="python", help="Python on the cluster (default: python)")
    s.add_argument("--job-id", help="submission id to use (default: Ray picks one)")
    s.add_argument("--no-wait", action="store_true", help="print the job id and return")
    s.add_argument(
        "--token",
        help="the cluster's auth token (default: $RAY_AUTH_TOKEN, the file $RAY_AUTH_TOKEN_PATH "
        "or ~/.ray/auth_token, as Ray's own clients look for it)",
    )
    s.set_defaults(handler=("submit", "submit"))


def _survey(sub) -> None:
    s = sub.add_parser(
        "survey",
        help="latency, throughput and GPU utilisation of timm models or a space's references",
    )
    what = s.add_mutually_exclusive_group(required=True)
    what.add_argument(
        "--models", help="comma-separated timm model names, or 'cnn' for the built-in CNN list"
    )
    what.add_argument("--space", help="measure this space's reference architectures")
    s.add_argument("--out", required=True, help="output folder (CSV, JSON, PNG)")
    s.add_argument("--batch-sizes", default="1", help="comma-separated, e.g. 1,128")
    s.add_argument("--precision", default=None, help="fp32, fp16, bf16, int8 (default per device)")
    s.add_argument("--device", default="auto", help="cpu, cuda, cuda:N or auto")
    s.add_argument("--backend", default="auto", help="latency backend (default auto)")
    s.add_argument("--resolution", type=int, default=None, help="input size for every model")
    s.add_argument(
        "--accuracy-csv",
        default=str(packaged_data.timm_imagenet_results()),
        help="timm results-imagenet.csv or similar (default: the copy packaged with accelsearch)",
    )
    s.add_argument("--max-seconds", type=float, default=5.0, help="timing cap per model")
    s.add_argument("--threads", type=int, default=None, help="CPU threads (device cpu)")
    s.add_argument("--no-cache", action="store_true", help="do not use the latency cache")
    s.add_argument("--no-calibrate", action="store_true", help="datasheet peaks only")
    s.set_defaults(handler=("survey", "survey"))


def _sync(sub) -> None:
    s = sub.add_parser(
        "sync",
        help="copy the runs of a workspace's local store (an --offline run) to a tracking server",
    )
    s.add_argument("--output", required=True, help="the workspace folder the run wrote")
    s.add_argument(
        "--tracking-uri",
        help="server to upload to (default: the one the offline run was meant for, "
        "kept in the workspace's sync.json)",
    )
    s.add_argument(
        "--experiment",
        action="append",
        default=[],
        help="copy only this experiment (repeatable; default: all)",
    )
    s.add_argument("--dry-run", action="store_true", help="say what would be copied")
    s.set_defaults(handler=("sync", "sync"))


def _ui(sub) -> None:
    u = sub.add_parser(
        "ui",
        help="open the MLflow UI on a workspace's store, on the newest family's members",
    )
    u.add_argument("--output", default="runs", help="workspace folder (default: runs)")
    u.add_argument("--port", type=int, default=5000)
    u.add_argument(
        "--host", default="127.0.0.1", help="interface to listen on (default: 127.0.0.1)"
    )
    u.add_argument("--workers", type=int, default=1, help="server processes (default: 1)")
    u.add_argument(
        "--app-name",
        choices=["basic-auth"],
        help="basic-auth: users and passwords (admin password from MLFLOW_AUTH_ADMIN_PASSWORD "
        "on first start; users in the workspace's basic_auth.db)",
    )
    u.add_argument(
        "--default-permission",
        default="READ",
        choices=AUTH_PERMISSIONS,
        help="basic-auth: what users may do with experiments they did not create (default READ)",
    )
    u.add_argument(
        "--allow-unauthenticated",
        action="store_true",
        help="listen beyond 127.0.0.1 without basic-auth: anyone who reaches the port may "
        "read and change the runs",
    )
    u.add_argument(
        "--allowed-hosts",
        help="Host headers the server accepts when reached by name or address beyond "
        "localhost (mlflow's option, e.g. 'myhost:5000,10.0.0.5:5000')",
    )
    u.add_argument("--no-browser", action="store_true", help="do not open a web browser")
    u.add_argument("--dry-run", action="store_true", help="print the command, start nothing")
    u.set_defaults(handler=("ui", "ui"))


def _validate(sub) -> None:
    v = sub.add_parser(
        "validate",
        help="check recipes without running them (missing data: a warning)",
        description="Check recipes without running them: fields, types and names are errors; "
        "data that is not here is a warning saying how to get it (an error with --check-data, "
        "as in `accelsearch run`).",
    )
    v.add_argument("recipes", nargs="+")
    v.add_argument(
        "--check-data",
        action="store_true",
        help="treat input data that does not exist as an error, as `accelsearch run` does",
    )
    add_set_option(v)
    v.set_defaults(handler=("validate", "validate"))


#: in the order ``accelsearch --help`` lists them
PARSERS = (_compare, _listing, _resume, _run, _scale, _submit, _survey, _sync, _ui, _validate)
