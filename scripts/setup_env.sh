#!/usr/bin/env bash
# Creates the virtual environment the README's commands use. Idempotent.
#   scripts/setup_env.sh [VENV_DIR]
# 1. Debian packages Open3D needs (libusb-1.0-0), when missing and we may install them.
# 2. A venv with the CPU build of torch installed *first*, so no CUDA build is pulled.
# 3. The package itself, editable, with its test extras.
set -euo pipefail
VENV="${1:-.venv}"
PYTHON="${PYTHON:-python3}"

if ! ldconfig -p 2>/dev/null | grep -q "libusb-1.0.so.0"; then
    SUDO=""; [ "$(id -u)" -ne 0 ] && SUDO="sudo"
    echo "[setup] installing Debian package libusb-1.0-0 (needed by Open3D)"
    $SUDO apt-get update -qq && $SUDO apt-get install -y -qq libusb-1.0-0 >/dev/null
fi

if [ ! -x "$VENV/bin/python" ]; then
    echo "[setup] creating virtual environment $VENV"
    "$PYTHON" -m venv "$VENV"
fi
PIP="$VENV/bin/python -m pip"
$PIP install -q --upgrade pip
if ! "$VENV/bin/python" -c "import torch" 2>/dev/null; then
    echo "[setup] installing CPU torch (torch==2.13.0) before anything that depends on it"
    $PIP install -q "torch==2.13.0"
fi
echo "[setup] installing slam_nodes with test extras"
$PIP install -q -e ".[test]"
