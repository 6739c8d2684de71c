#!/usr/bin/env bash
# Install the deployment and observability tooling (helm, kubeconform, prometheus, promtool, amtool)
# from source through the Go module proxy, because a fresh CI machine has none of them and no other
# download site is reachable.
#
# Everything lives under one cache folder so CI can keep it between runs:
#   $PULSE_TOOLS_CACHE            (default ~/.cache/pulse)
#     bin/helm-<version>          the helm binary, one file per pinned version
#     bin/kubeconform-<version>
#     bin/prometheus-<version>     Prometheus 3 (its Go module is tagged v0.3xx.y for release 3.xx.y)
#     bin/promtool-<version>
#     bin/amtool-<version>         Alertmanager's CLI (`amtool config routes test`)
#     compose-spec-<version>.json the Compose Specification schema from compose-go
#     go/                         GOMODCACHE + GOCACHE used by the builds (re-used when warm)
#
# Cold (empty Go caches) this takes a few minutes on 2 cores (prometheus 222 s, promtool 55 s after it,
# amtool 42 s, measured under load: docs/alerting.md); warm it is a no-op.
# Prints the absolute paths of the binaries, one per line, on stdout (logs go to stderr).
set -euo pipefail

HELM_VERSION="${HELM_VERSION:-v3.21.4}"
KUBECONFORM_VERSION="${KUBECONFORM_VERSION:-v0.7.0}"
# The Compose Specification JSON schema ships inside the compose-go Go module (schema/compose-spec.json),
# the same library `docker compose` itself validates with.
COMPOSE_GO_VERSION="${COMPOSE_GO_VERSION:-v2.16.2}"
# Prometheus 3.x is published to the Go proxy as github.com/prometheus/prometheus v0.3xx.y (release 3.xx.y).
PROMETHEUS_VERSION="${PROMETHEUS_VERSION:-v0.316.0}"
ALERTMANAGER_VERSION="${ALERTMANAGER_VERSION:-v0.35.0}"
CACHE="${PULSE_TOOLS_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/pulse}"
BIN="$CACHE/bin"
GO="${GO:-go}"

log() { echo "install-tools: $*" >&2; }

command -v "$GO" >/dev/null 2>&1 || { log "Go toolchain '$GO' not found: install Go >= 1.24 (apt-get install golang-go)"; exit 2; }
mkdir -p "$BIN" "$CACHE/go"

export GOMODCACHE="$CACHE/go/mod"
export GOCACHE="$CACHE/go/build"
export GOFLAGS="${GOFLAGS:--mod=mod}"
export CGO_ENABLED=0
# Keep the build light on a shared 2-core machine.
export GOMAXPROCS="${GOMAXPROCS:-2}"

build() {  # name module-path version [extra ldflags] [build tags]
  local name="$1" pkg="$2" version="$3" ldflags="-s -w ${4:-}" tags="${5:-}" target="$BIN/$1-$3"
  if [[ -x "$target" ]]; then
    log "$name $version cached at $target"
  else
    local start tmp
    start=$(date +%s)
    tmp=$(mktemp -d "$CACHE/gobin.XXXXXX")
    log "building $name $version with 'go install $pkg@$version' (cold: minutes)"
    if ! GOBIN="$tmp" "$GO" install -trimpath -tags="$tags" -ldflags="$ldflags" "$pkg@$version" >&2; then
      rm -rf "$tmp"
      log "FAILED to build $name $version: is the Go module proxy reachable? (GOPROXY=$("$GO" env GOPROXY))"
      exit 1
    fi
    mv "$tmp/$name" "$target"
    rm -rf "$tmp"
    log "built $name $version in $(( $(date +%s) - start ))s"
  fi
  ln -sf "$(basename "$target")" "$BIN/$name"
  echo "$target"
}

compose_schema() {
  local target="$CACHE/compose-spec-$COMPOSE_GO_VERSION.json" dir
  if [[ ! -s "$target" ]]; then
    log "fetching github.com/compose-spec/compose-go/v2@$COMPOSE_GO_VERSION for its compose-spec.json"
    dir=$("$GO" mod download -json "github.com/compose-spec/compose-go/v2@$COMPOSE_GO_VERSION" \
          | sed -n 's/^[[:space:]]*"Dir": "\(.*\)",$/\1/p') || true
    if [[ -z "$dir" || ! -s "$dir/schema/compose-spec.json" ]]; then
      log "FAILED to fetch compose-go $COMPOSE_GO_VERSION: is the Go module proxy reachable?"
      exit 1
    fi
    cp "$dir/schema/compose-spec.json" "$target.tmp" && mv "$target.tmp" "$target"
  fi
  echo "$target"
}

want="${*:-helm compose-schema}"
for tool in $want; do
  case "$tool" in
    helm) build helm helm.sh/helm/v3/cmd/helm "$HELM_VERSION" \
            "-X helm.sh/helm/v3/internal/version.version=$HELM_VERSION -X helm.sh/helm/v3/internal/version.gitTreeState=clean" ;;
    kubeconform) build kubeconform github.com/yannh/kubeconform/cmd/kubeconform "$KUBECONFORM_VERSION" ;;
    compose-schema) compose_schema ;;
    # No web UI assets (the builtinassets tag needs npm): the HTTP API is all the tests use. remove_all_sd
    # leaves out the cloud service discoveries (Kubernetes, AWS, Azure, GCE, ...): the tests scrape static
    # targets, and the cloud SDKs are most of the download and compile time.
    prometheus) build prometheus github.com/prometheus/prometheus/cmd/prometheus "$PROMETHEUS_VERSION" \
            "-X github.com/prometheus/common/version.Version=$PROMETHEUS_VERSION" remove_all_sd ;;
    promtool) build promtool github.com/prometheus/prometheus/cmd/promtool "$PROMETHEUS_VERSION" \
            "-X github.com/prometheus/common/version.Version=$PROMETHEUS_VERSION" remove_all_sd ;;
    amtool) build amtool github.com/prometheus/alertmanager/cmd/amtool "$ALERTMANAGER_VERSION" \
            "-X github.com/prometheus/common/version.Version=$ALERTMANAGER_VERSION" ;;
    *) log "unknown tool '$tool' (helm|kubeconform|compose-schema|prometheus|promtool|amtool)"; exit 2 ;;
  esac
done
