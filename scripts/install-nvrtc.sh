#!/usr/bin/env bash
# Best effort: installs NVIDIA's NVRTC wheel (nvidia-cuda-nvrtc-cu12) into
# ~/.cache/cpc/nvrtc-venv so the kernel-compile test can compile every CUDA kernel to PTX
# on a machine without a GPU. NVRTC needs no GPU and no driver. Skips quietly when pip or
# the network is missing; the test then says it skipped.
set -uo pipefail
venv="${CPC_NVRTC_VENV:-$HOME/.cache/cpc/nvrtc-venv}"
if compgen -G "$venv/lib/python*/site-packages/nvidia/cuda_nvrtc/lib/libnvrtc.so*" >/dev/null; then
    exit 0
fi
command -v python3 >/dev/null || exit 1
python3 -m venv "$venv" >/dev/null 2>&1 || exit 1
timeout 300 "$venv/bin/pip" install -q --disable-pip-version-check "nvidia-cuda-nvrtc-cu12" || exit 1
