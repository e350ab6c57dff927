#!/usr/bin/env bash
# Every check that needs a GPU, in one table: `PYTHONPATH=. bash bench/device.sh --out device.md`.
# Arguments go to bench/device.py (--dry-run: the same checks on the CPU, in seconds). The
# Python time guard (--time-limit, 450 s) stops the cases; `timeout` is the backstop that keeps
# the whole run under 8 minutes even if a case hangs where no signal can reach it.
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
export PYTHONPATH="${root}${PYTHONPATH:+:${PYTHONPATH}}"
exec timeout --kill-after=10 470 python "${root}/bench/device.py" "$@"
