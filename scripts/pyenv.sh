# Sourced by the interop and reference scripts: a private Python environment per purpose, so
# nothing is installed system-wide.
#   pyenv_setup NAME PACKAGE...   sets PY (the interpreter) and PYTHONPATH for NAME's packages
# A venv at $ASSETS/venv-NAME; where python3 has no venv module (Debian without python3-venv),
# the packages go into $ASSETS/pydeps-NAME on PYTHONPATH instead. Installs only what is missing
# (a marker file records the package list).
pyenv_setup() {
  local name=$1; shift
  local assets=${ASSETS:-$PWD/assets}
  local venv="$assets/venv-$name" deps="$assets/pydeps-$name"
  local want="$*"
  if [ -x "$venv/bin/python" ] || { [ ! -d "$deps" ] && python3 -m venv "$venv" 2>/dev/null; }; then
    PY="$venv/bin/python"; PYTHONPATH=""
    if [ "$(cat "$venv/.glossa-packages" 2>/dev/null)" != "$want" ]; then
      printf '[pyenv] installing into %s: %s\n' "$venv" "$want" >&2
      "$PY" -m pip install --quiet --disable-pip-version-check "$@"
      printf '%s' "$want" > "$venv/.glossa-packages"
    fi
  else
    rm -rf "$venv"
    PY=python3; PYTHONPATH="$deps"
    if [ "$(cat "$deps/.glossa-packages" 2>/dev/null)" != "$want" ]; then
      printf '[pyenv] python3 has no venv module: installing into %s: %s\n' "$deps" "$want" >&2
      python3 -m pip install --quiet --disable-pip-version-check --target "$deps" "$@"
      printf '%s' "$want" > "$deps/.glossa-packages"
    fi
  fi
  export PYTHONPATH
}
