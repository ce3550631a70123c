#!/usr/bin/env bash
# The GPU teacher against the CPU teacher on one machine: texts/s of each and the cosine between
# their vectors (docs/performance.md, "GPU teacher"). Two steps, since the GPU machine this
# project borrows has no Rust, no tokenizer files and no network, and takes 64 MiB along:
#
#   scripts/gpu-check.sh prepare   # here: a --features cuda build of examples/gpu_check.rs,
#                                  # stripped and xz'd, and a bundle of token ids + f16 weights
#                                  # (crates/glossa/examples/gpu_check.rs says what it keeps)
#   scripts/gpu-check.sh run       # there: both engines on the bundle, JSON lines on stdout
#
# prepare reads the default run's training corpus (scripts/distill-default.sh makes it) and the
# teacher from the Hugging Face cache (scripts/convert-e5.sh puts multilingual-e5-small there).
set -euo pipefail
cd "$(dirname "$0")/.."
teacher=intfloat/multilingual-e5-small
case "${1:-}" in
prepare)
    # No CUDA toolkit is needed to build: cudarc loads the driver, cuBLAS and NVRTC at run time;
    # 13000 is the CUDA API the borrowed machine's driver and libraries speak.
    CUDARC_CUDA_VERSION=13000 cargo build --release -p glossa --features cuda --example gpu_check
    rm -rf .gpu && mkdir -p .gpu
    HF_HUB_OFFLINE=1 target/release/examples/gpu_check prepare "$teacher" \
        runs/default/corpus/train/*.tsv --texts 12000 --out .gpu/bundle
    cp target/release/examples/gpu_check .gpu/gpu_check
    strip .gpu/gpu_check && xz -9 .gpu/gpu_check
    du -sh .gpu
    ;;
run)
    cd .gpu
    [ -x gpu_check ] || { xz -dk gpu_check.xz && chmod +x gpu_check; }
    libs=$(find /usr/local /opt /usr/lib \( -name 'libcublas.so.13' -o -name 'libnvrtc.so.13' \) \
        2>/dev/null | xargs -r -n1 dirname | sort -u | paste -sd:)
    export LD_LIBRARY_PATH="$libs${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}"
    echo "libraries: $libs"
    nvidia-smi --query-gpu=name,driver_version,memory.total --format=csv,noheader
    echo "cpu cores: $(nproc)"
    ./gpu_check run bundle --device cuda:0 --passes 5
    # The speed of e5-base's and e5-large's shapes (random weights; CPU on a slice of the texts).
    ./gpu_check run bundle --device cuda:0 --passes 3 --shape base --cpu-texts 2000 --chunks 8192,65536
    ./gpu_check run bundle --device cuda:0 --passes 3 --shape large --cpu-texts 1000 --chunks 8192,65536
    ;;
*)
    echo "usage: scripts/gpu-check.sh prepare|run" >&2
    exit 2
    ;;
esac
