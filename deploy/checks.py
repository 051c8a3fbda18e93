"""The checks of deploy/check.sh that no off-the-shelf tool does: cross-file consistency of
the deployment files, a few Dockerfile rules hadolint cannot see, and the Grafana dashboard.

    python deploy/checks.py compose|dockerfile|kubernetes|grafana [ROOT]

Prints one line per check (``ok`` or ``FAIL``, with what and why) and exits 1 on any FAIL.
ROOT defaults to the repository this file is in. Standard library + PyYAML only (both in
the project's venv); nothing is fetched.
"""

from __future__ import annotations

import json
import re
import sys
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import yaml

ROOT = Path(__file__).resolve().parent.parent
FAILURES: list[str] = []

# Kubernetes manifests of deploy/kubernetes/ (the Helm values file is not a manifest).
MANIFESTS = ("configmap.yaml", "migrate-job.yaml", "api.yaml", "worker.yaml")
TEMPORAL_VALUES = "temporal-values.yaml"

# Settings that only the development setup (`nudge up`, SQLite) reads: not in the ConfigMap.
DEV_ONLY_SETTINGS = {"NUDGE_DATA_DIR", "NUDGE_TEMPORAL_PORT", "NUDGE_TEMPORAL_UI_PORT"}
SECRET_SETTINGS = {"NUDGE_DATABASE_URL"}

# The metrics contract the dashboard may use: exposed name -> (type, labels besides `le`).
NUDGE_METRICS: dict[str, tuple[str, frozenset[str]]] = {
    "nudge_tasks_created_total": ("counter", frozenset({"source"})),
    "nudge_rule_firings_total": ("counter", frozenset({"outcome"})),
    "nudge_reminders_total": ("counter", frozenset({"outcome"})),
    "nudge_webhook_deliveries_total": ("counter", frozenset({"outcome"})),
    "nudge_events_received_total": ("counter", frozenset({"kind", "duplicate"})),
    "nudge_events_unstarted": ("gauge", frozenset()),
    "nudge_open_sequences": ("gauge", frozenset()),
    "nudge_open_cadences": ("gauge", frozenset()),
    "nudge_http_requests_total": ("counter", frozenset({"method", "route", "status"})),
    "nudge_http_request_duration_seconds": ("histogram", frozenset({"method", "route"})),
}
# Temporal SDK metrics the dashboard must show: task latency, activity failures, requests.
REQUIRED_SDK = (
    "temporal_workflow_task_schedule_to_start_latency_seconds",
    "temporal_activity_execution_failed_total",
    "temporal_request_total",
)
# Labels Prometheus itself adds to every scraped series.
TARGET_LABELS = frozenset({"job", "instance"})
HISTOGRAM_SUFFIXES = ("_bucket", "_sum", "_count")


def report(ok: bool, what: str, why: str = "") -> None:
    print(f"  {'ok  ' if ok else 'FAIL'} {what}" + (f": {why}" if why and not ok else ""))
    if not ok:
        FAILURES.append(what)


def load_yaml_docs(path: Path) -> list[dict[str, Any]]:
    with path.open() as f:
        return [doc for doc in yaml.safe_load_all(f) if doc]


# --- docker-compose.yml ------------------------------------------------------------------


def image_pinned(image: str) -> str | None:
    """Why `image` is not pinned, or None when it is (a tag that is not `latest`)."""
    name, _, digest = image.partition("@")
    last = name.rsplit("/", 1)[-1]
    if ":" not in last:
        return "no tag" if not digest else None
    tag = last.split(":", 1)[1]
    if tag == "latest" or "${" in tag:
        return f"tag {tag!r} is not a pin"
    return None


def compose_images(services: dict[str, Any]) -> dict[str, str]:
    return {name: svc["image"] for name, svc in services.items() if "image" in svc}


def tag_of(image: str) -> str:
    return image.split("@")[0].rsplit(":", 1)[-1]


def check_compose(root: Path) -> None:
    compose = yaml.safe_load((root / "docker-compose.yml").read_text())
    services: dict[str, Any] = compose["services"]
    images = compose_images(services)

    unpinned = {n: why for n, img in images.items() if (why := image_pinned(img))}
    report(not unpinned, "compose: every image has a pinned tag", str(unpinned))

    built = [n for n, s in services.items() if "build" in s and "image" not in s]
    report(not built, "compose: built services name their image", str(built))

    missing = {
        name: sorted(set(svc.get("depends_on", {})) - set(services))
        for name, svc in services.items()
        if set(svc.get("depends_on", {})) - set(services)
    }
    report(not missing, "compose: depends_on names services that exist", str(missing))

    auto_setup = [n for n, img in images.items() if img.startswith("temporalio/auto-setup")]
    report(not auto_setup, "compose: no deprecated temporalio/auto-setup image", str(auto_setup))

    by_repo: dict[str, set[str]] = {}
    for img in images.values():
        by_repo.setdefault(img.split("@")[0].rsplit(":", 1)[0], set()).add(tag_of(img))
    server = by_repo.get("temporalio/server", set())
    admin = by_repo.get("temporalio/admin-tools", set())
    report(
        len(server) == 1 and server == admin,
        "compose: temporalio/server and temporalio/admin-tools on the same version",
        f"server {sorted(server)}, admin-tools {sorted(admin)}",
    )

    values = yaml.safe_load((root / "deploy/kubernetes" / TEMPORAL_VALUES).read_text())
    helm = {
        "temporalio/server": values["server"]["image"]["tag"],
        "temporalio/admin-tools": values["admintools"]["image"]["tag"],
        "temporalio/ui": values["web"]["image"]["tag"],
    }
    differ = {
        r: (sorted(by_repo.get(r, set())), t) for r, t in helm.items() if {t} != by_repo.get(r)
    }
    report(not differ, f"compose: Temporal tags equal to {TEMPORAL_VALUES}'s", str(differ))

    shards_compose = str(services["temporal"]["environment"].get("NUM_HISTORY_SHARDS"))
    shards_helm = str(values["server"]["config"]["persistence"]["numHistoryShards"])
    report(
        shards_compose == shards_helm,
        f"compose: NUM_HISTORY_SHARDS equal to {TEMPORAL_VALUES}'s numHistoryShards",
        f"{shards_compose} vs {shards_helm}",
    )


# --- Dockerfile --------------------------------------------------------------------------


def dockerfile_instructions(text: str) -> list[tuple[str, str]]:
    """(INSTRUCTION, arguments) pairs, continuation lines joined, comments dropped."""
    joined = re.sub(
        r"\\\n",
        " ",
        "\n".join(line for line in text.splitlines() if not line.lstrip().startswith("#")),
    )
    out = []
    for line in joined.splitlines():
        if line.strip():
            word, _, rest = line.strip().partition(" ")
            out.append((word.upper(), rest.strip()))
    return out


def requires_python_floor(root: Path) -> tuple[int, int]:
    text = (root / "pyproject.toml").read_text()
    m = re.search(r'requires-python\s*=\s*">=\s*(\d+)\.(\d+)', text)
    if not m:
        raise SystemExit("pyproject.toml: requires-python '>=X.Y' not found")
    return int(m.group(1)), int(m.group(2))


def check_dockerfile(root: Path) -> None:
    instructions = dockerfile_instructions((root / "Dockerfile").read_text())
    froms = [args.split()[0] for word, args in instructions if word == "FROM"]
    report(len(set(froms)) == 1, "Dockerfile: every stage FROM the same base image", str(froms))
    base = froms[0] if froms else ""
    m = re.fullmatch(r"python:(\d+)\.(\d+)\.(\d+)-slim-[a-z]+(@sha256:[0-9a-f]{64})?", base)
    report(
        bool(m),
        "Dockerfile: base is python:X.Y.Z-slim-<debian release> (full version, no ARG)",
        repr(base),
    )
    if m:
        floor = requires_python_floor(root)
        report(
            (int(m.group(1)), int(m.group(2))) >= floor,
            "Dockerfile: base Python satisfies requires-python",
            f"{base} vs >={floor[0]}.{floor[1]}",
        )

    users = [args for word, args in instructions if word == "USER"]
    user = users[-1] if users else ""
    uid = user.split(":")[0]
    report(
        uid.isdigit() and int(uid) != 0,
        "Dockerfile: the final USER is numeric and not root",
        repr(user),
    )
    cmds = [args for word, args in instructions if word in ("CMD", "ENTRYPOINT")]
    report(
        bool(cmds) and all(c.startswith("[") for c in cmds),
        "Dockerfile: CMD/ENTRYPOINT in exec form",
        str(cmds),
    )
    if uid.isdigit():
        run_as = {
            (path.name, doc["metadata"]["name"]): pod_spec(doc)
            .get("securityContext", {})
            .get("runAsUser")
            for path, doc in manifests(root)
            if pod_spec(doc)
        }
        wrong = {k: v for k, v in run_as.items() if v != int(uid)}
        report(not wrong, f"Dockerfile: USER {uid} is the manifests' runAsUser", str(wrong))


# --- deploy/kubernetes -------------------------------------------------------------------


def manifests(root: Path) -> Iterator[tuple[Path, dict[str, Any]]]:
    for name in MANIFESTS:
        path = root / "deploy/kubernetes" / name
        for doc in load_yaml_docs(path):
            yield path, doc


def pod_spec(doc: dict[str, Any]) -> dict[str, Any]:
    if doc.get("kind") in ("Deployment", "Job"):
        spec: dict[str, Any] = doc["spec"]["template"]["spec"]
        return spec
    return {}


def graceful_shutdown_seconds(root: Path) -> float:
    m = re.search(
        r"graceful_shutdown_timeout\s*=\s*timedelta\(\s*seconds\s*=\s*([\d.]+)",
        (root / "worker.py").read_text(),
    )
    if not m:
        raise SystemExit("worker.py: graceful_shutdown_timeout=timedelta(seconds=N) not found")
    return float(m.group(1))


def settings_variables(root: Path) -> set[str] | None:
    sys.path.insert(0, str(root))
    try:
        from nudge.platform.settings import Settings
    except ImportError as err:
        print(f"  skip settings coverage: nudge.platform.settings not importable ({err})")
        return None
    prefix = str(Settings.model_config.get("env_prefix", ""))
    return {(prefix + name).upper() for name in Settings.model_fields}


def check_kubernetes(root: Path) -> None:
    docs = list(manifests(root))
    by_kind: dict[tuple[str, str], dict[str, Any]] = {
        (doc["kind"], doc["metadata"]["name"]): doc for _, doc in docs
    }
    workloads = {key: doc for key, doc in by_kind.items() if pod_spec(doc)}
    report(
        {k for k, _ in workloads} == {"Deployment", "Job"}
        and ("Deployment", "nudge-api") in workloads
        and ("Deployment", "nudge-worker") in workloads
        and ("Job", "nudge-migrate") in workloads,
        "kubernetes: API and worker Deployments and the migrate Job exist",
        str(sorted(workloads)),
    )

    commands = {
        key[1]: [c.get("command", []) + c.get("args", []) for c in pod_spec(doc)["containers"]]
        for key, doc in workloads.items()
    }
    expected = {
        "nudge-api": [["nudge", "api"]],
        "nudge-worker": [["nudge", "worker"]],
        "nudge-migrate": [["nudge", "migrate"]],
    }
    report(
        commands == expected, "kubernetes: each workload runs its `nudge` command", str(commands)
    )

    images = {c["image"] for doc in workloads.values() for c in pod_spec(doc)["containers"]}
    report(len(images) == 1, "kubernetes: one Nudge image for every role", str(images))

    config = by_kind.get(("ConfigMap", "nudge-config"), {}).get("data", {})
    no_env = []
    for key, doc in workloads.items():
        for c in pod_spec(doc)["containers"]:
            refs = {e.get("configMapRef", {}).get("name") for e in c.get("envFrom", [])}
            secret = [
                e
                for e in c.get("env", [])
                if e["name"] == "NUDGE_DATABASE_URL"
                and e.get("valueFrom", {}).get("secretKeyRef", {}).get("name") == "nudge-database"
            ]
            if "nudge-config" not in refs or not secret:
                no_env.append(key[1])
    report(
        not no_env,
        "kubernetes: every container gets nudge-config and NUDGE_DATABASE_URL from a Secret",
        str(no_env),
    )
    report(
        not ({"NUDGE_DATABASE_URL"} & set(config)),
        "kubernetes: no database URL (a password) in the ConfigMap",
    )

    known = settings_variables(root)
    if known is not None:
        missing = sorted(known - set(config) - SECRET_SETTINGS - DEV_ONLY_SETTINGS)
        unknown = sorted(k for k in config if k.startswith("NUDGE_") and k not in known)
        report(
            not missing and not unknown,
            "kubernetes: the ConfigMap sets every NUDGE_* setting of settings.py, no other",
            f"missing {missing}, unknown {unknown}",
        )

    api = pod_spec(workloads.get(("Deployment", "nudge-api"), {"kind": ""}))
    probes = {
        kind: c.get(kind, {}).get("httpGet", {}).get("path")
        for c in api.get("containers", [])
        for kind in ("readinessProbe", "livenessProbe")
    }
    report(
        probes == {"readinessProbe": "/readyz", "livenessProbe": "/healthz"},
        "kubernetes: API readiness on /readyz, liveness on /healthz",
        str(probes),
    )
    service = by_kind.get(("Service", "nudge-api"), {})
    api_labels = workloads.get(("Deployment", "nudge-api"), {}).get("spec", {})
    api_labels = api_labels.get("template", {}).get("metadata", {}).get("labels", {})
    selector = service.get("spec", {}).get("selector", {})
    report(
        bool(selector) and selector.items() <= api_labels.items(),
        "kubernetes: the API Service selects the API pods",
        str(selector),
    )

    worker_doc = workloads.get(("Deployment", "nudge-worker"), {})
    worker = pod_spec(worker_doc) if worker_doc else {}
    grace = worker.get("terminationGracePeriodSeconds", 30)
    drain = graceful_shutdown_seconds(root)
    report(
        grace > drain,
        "kubernetes: worker terminationGracePeriodSeconds longer than its graceful shutdown",
        f"{grace} s vs graceful_shutdown_timeout {drain:g} s (worker.py)",
    )
    pdb = by_kind.get(("PodDisruptionBudget", "nudge-worker"), {})
    pdb_sel = pdb.get("spec", {}).get("selector", {}).get("matchLabels", {})
    worker_labels = worker_doc.get("spec", {}).get("template", {}).get("metadata", {})
    worker_labels = worker_labels.get("labels", {})
    report(
        bool(pdb_sel) and pdb_sel.items() <= worker_labels.items(),
        "kubernetes: a PodDisruptionBudget covers the worker pods",
        str(pdb_sel),
    )
    ports = [p["containerPort"] for c in worker.get("containers", []) for p in c.get("ports", [])]
    report(
        str(config.get("NUDGE_WORKER_METRICS_PORT")) in {str(p) for p in ports},
        "kubernetes: the worker exposes NUDGE_WORKER_METRICS_PORT",
        f"{config.get('NUDGE_WORKER_METRICS_PORT')} not in {ports}",
    )

    insecure = []
    for key, doc in workloads.items():
        spec = pod_spec(doc)
        for c in spec["containers"]:
            sc = c.get("securityContext", {})
            if not (
                spec.get("securityContext", {}).get("runAsNonRoot") is True
                and sc.get("allowPrivilegeEscalation") is False
                and sc.get("readOnlyRootFilesystem") is True
                and "ALL" in sc.get("capabilities", {}).get("drop", [])
            ):
                insecure.append(key[1])
    report(
        not insecure,
        "kubernetes: non-root, read-only root filesystem, no privilege escalation, caps dropped",
        str(insecure),
    )


# --- deploy/grafana/nudge.json -------------------------------------------------------------


def load_sdk_metrics(root: Path) -> dict[str, tuple[str, frozenset[str]]]:
    out = {}
    for line in (root / "deploy/grafana/temporal-sdk-metrics.txt").read_text().splitlines():
        if line.strip() and not line.startswith("#"):
            name, kind, labels = line.split()
            out[name] = (kind, frozenset(labels.split(",")))
    return out


def all_panels(panels: list[dict[str, Any]]) -> Iterator[dict[str, Any]]:
    for panel in panels:
        yield panel
        yield from all_panels(panel.get("panels", []))


METRIC_TOKEN = re.compile(r"(?<![\w:$\"'])((?:nudge|temporal)_[A-Za-z0-9_:]*)")
SELECTOR = re.compile(r"((?:nudge|temporal)_[A-Za-z0-9_:]*)\s*\{([^}]*)\}")
GROUPING = re.compile(r"\b(?:by|without)\s*\(([^)]*)\)")
LABEL_MATCHER = re.compile(r"([A-Za-z_]\w*)\s*(?:=~|!~|!=|=)")


def resolve(name: str, known: dict[str, tuple[str, frozenset[str]]]) -> tuple[str, bool] | None:
    """(the metric `name` belongs to, whether it is a histogram's bucket series) or None."""
    if name in known and known[name][0] != "histogram":
        return name, False
    for suffix in HISTOGRAM_SUFFIXES:
        base = name.removesuffix(suffix)
        if base != name and known.get(base, ("", frozenset()))[0] == "histogram":
            return base, suffix == "_bucket"
    return None


def expression_problems(expr: str, known: dict[str, tuple[str, frozenset[str]]]) -> list[str]:
    problems = []
    used: set[str] = set()
    bucket = False
    for name in METRIC_TOKEN.findall(expr):
        hit = resolve(name, known)
        if hit is None:
            problems.append(f"unknown metric {name}")
        else:
            used.add(hit[0])
            bucket = bucket or hit[1]
    for name, matchers in SELECTOR.findall(expr):
        hit = resolve(name, known)
        if hit:
            labels = known[hit[0]][1] | TARGET_LABELS | ({"le"} if hit[1] else set())
            extra = set(LABEL_MATCHER.findall(matchers)) - labels
            if extra:
                problems.append(f"{name} has no label {sorted(extra)}")
    allowed = set(TARGET_LABELS) | ({"le"} if bucket else set())
    for metric in used:
        allowed |= known[metric][1]
    for group in GROUPING.findall(expr):
        extra = {label.strip() for label in group.split(",") if label.strip()} - allowed
        if extra:
            problems.append(f"grouping by {sorted(extra)}, not a label of {sorted(used)}")
    return problems


def nudge_code_problems(root: Path) -> list[str] | None:
    """Where nudge/platform/metrics.py disagrees with NUDGE_METRICS; None: not importable."""
    sys.path.insert(0, str(root))
    try:
        from prometheus_client.metrics import MetricWrapperBase

        import nudge.platform.metrics as code
    except ModuleNotFoundError as err:
        if err.name not in ("nudge.platform.metrics", "prometheus_client"):
            raise
        print(f"  skip metrics code cross-check: {err}")
        return None
    exposed: dict[str, tuple[str, frozenset[str]]] = {}
    for value in vars(code).values():
        if isinstance(value, MetricWrapperBase):
            kind = str(value._type)
            name = value._name + ("_total" if kind == "counter" else "")
            exposed[name] = (kind, frozenset(value._labelnames))
    collector = getattr(code, "OpenWorkCollector", None)
    if collector is not None:
        for family in collector.describe(collector.__new__(collector)):
            exposed[family.name] = (str(family.type), frozenset())
    return [
        f"{name}: code has {exposed.get(name)}, dashboard contract {want}"
        for name, want in NUDGE_METRICS.items()
        if exposed.get(name) != want
    ]


def check_grafana(root: Path) -> None:
    path = root / "deploy/grafana/nudge.json"
    try:
        dash = json.loads(path.read_text())
    except json.JSONDecodeError as err:
        report(False, "grafana: nudge.json is well-formed JSON", str(err))
        return
    report(True, "grafana: nudge.json is well-formed JSON")
    report(
        isinstance(dash.get("uid"), str)
        and isinstance(dash.get("title"), str)
        and isinstance(dash.get("schemaVersion"), int)
        and isinstance(dash.get("panels"), list),
        "grafana: a dashboard (uid, title, schemaVersion, panels)",
    )
    panels = list(all_panels(dash.get("panels", [])))
    ids = [p.get("id") for p in panels]
    report(len(ids) == len(set(ids)) and None not in ids, "grafana: panel ids unique", str(ids))

    layout = []
    cells: dict[tuple[int, int], Any] = {}
    for p in panels:
        g = p.get("gridPos", {})
        if not all(isinstance(g.get(k), int) for k in "hwxy") or g["x"] + g["w"] > 24:
            layout.append(f"{p.get('id')}: gridPos {g}")
            continue
        for x in range(g["x"], g["x"] + g["w"]):
            for y in range(g["y"], g["y"] + g["h"]):
                if (x, y) in cells:
                    layout.append(f"{p.get('id')} overlaps {cells[(x, y)]}")
                cells[(x, y)] = p.get("id")
    report(not layout, "grafana: panels fit the 24-column grid without overlapping", str(layout))

    data_panels = [p for p in panels if p.get("type") != "row"]
    bad_ds = [p["id"] for p in data_panels if p.get("datasource", {}).get("uid") != "${datasource}"]
    no_query = [
        p["id"]
        for p in data_panels
        if not all(t.get("expr") for t in p.get("targets", [])) or not p.get("targets")
    ]
    report(not bad_ds, "grafana: every panel uses the $datasource variable", str(bad_ds))
    report(not no_query, "grafana: every panel has PromQL targets", str(no_query))

    known = {**NUDGE_METRICS, **load_sdk_metrics(root)}
    expressions = [t["expr"] for p in data_panels for t in p.get("targets", []) if t.get("expr")]
    for var in dash.get("templating", {}).get("list", []):
        query = var.get("query")
        if isinstance(query, dict):
            query = query.get("query")
        if var.get("type") == "query" and isinstance(query, str):
            expressions.append(query)
    problems = [f"{e!r}: {p}" for e in expressions for p in expression_problems(e, known)]
    report(
        not problems,
        "grafana: queries use only Nudge's and the Temporal SDK's metric names and labels",
        "; ".join(problems),
    )
    text = "\n".join(expressions)
    used = {hit[0] for name in METRIC_TOKEN.findall(text) if (hit := resolve(name, known))}
    uncovered = sorted((set(NUDGE_METRICS) | set(REQUIRED_SDK)) - used)
    report(
        not uncovered, "grafana: every Nudge metric and the named SDK metrics shown", str(uncovered)
    )

    code = nudge_code_problems(root)
    if code is not None:
        report(
            not code,
            "grafana: the contract matches nudge/platform/metrics.py (names, types, labels)",
            "; ".join(code),
        )


CHECKS: dict[str, Callable[[Path], None]] = {
    "compose": check_compose,
    "dockerfile": check_dockerfile,
    "kubernetes": check_kubernetes,
    "grafana": check_grafana,
}


def main(argv: list[str]) -> int:
    if not argv or argv[0] not in CHECKS:
        print(f"usage: checks.py {{{'|'.join(CHECKS)}}} [ROOT]", file=sys.stderr)
        return 2
    root = Path(argv[1]).resolve() if len(argv) > 1 else ROOT
    CHECKS[argv[0]](root)
    return 1 if FAILURES else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
