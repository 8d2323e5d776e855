# Shared set-up for scripts/: a virtualenv in .venv with Concord and its test tools, and the
# Debian redis-server/redis-tools packages (for compat tests and benchmarks). Idempotent.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"
PYTHON="${PYTHON:-python3}"

need_apt=()
command -v redis-server >/dev/null 2>&1 || need_apt+=(redis-server)
command -v redis-benchmark >/dev/null 2>&1 || need_apt+=(redis-tools)
if [ "${#need_apt[@]}" -gt 0 ] && [ "${CONCORD_SKIP_APT:-0}" != 1 ]; then
  SUDO=""
  [ "$(id -u)" -eq 0 ] || SUDO="sudo"
  echo "installing ${need_apt[*]} (Debian packages)..." >&2
  $SUDO apt-get update -qq >&2
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq "${need_apt[@]}" >&2
fi

stamp=".venv/.installed-$(sha1sum pyproject.toml | cut -c1-12)"
if [ ! -f "$stamp" ]; then
  [ -x .venv/bin/python ] || "$PYTHON" -m venv .venv
  echo "setting up .venv (Python packages; the log is .venv/install.log)..." >&2
  # pip's and setuptools' chatter goes to the log, shown only if the install fails.
  if ! { .venv/bin/python -m pip install -q --upgrade pip &&
         .venv/bin/python -m pip install -q -e '.[test]'; } >.venv/install.log 2>&1; then
    cat .venv/install.log >&2
    exit 1
  fi
  rm -f .venv/.installed-*
  touch "$stamp"
fi
export PATH="$ROOT/.venv/bin:$PATH"
