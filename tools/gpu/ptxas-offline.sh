#!/usr/bin/env bash
# Offline PTX check of the tensor-core kernels, no GPU needed:  bash tools/gpu/ptxas-offline.sh [KERNEL...]
# ILGPU's PTX backend runs anywhere, so `Bench ptx` writes each kernel's PTX (at ENGINE_ILGPU_OPT=O1 and O2);
# ptxas assembles it for sm_90 (registers, stack frame, spills) and cuobjdump counts SASS instructions (HMMA,
# FFMA, LDL/STL = local memory). These are structural facts about the code, not speed.
# Tools: $CUDA_BIN if set, else ptxas on PATH, else CUDA 11.8's from Debian bookworm's non-free
# nvidia-cuda-toolkit package, fetched once with apt-get download + dpkg -x into $CACHE (no root, no install).
# ILGPU writes `.version 8.0`; ptxas 11.8 reads up to 7.8, and every instruction used is in 7.8, so it is rewritten.
set -euo pipefail
root=$(cd "$(dirname "$0")/../.." && pwd)
cache=${CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/engine-cuda}
opts=${OPTS:-O1 O2}
arch=${ARCH:-sm_90}

find_tools() {
  if [ -n "${CUDA_BIN:-}" ]; then echo "$CUDA_BIN"; return; fi
  if command -v ptxas >/dev/null && command -v cuobjdump >/dev/null; then dirname "$(command -v ptxas)"; return; fi
  local bin="$cache/x/usr/bin"
  if [ ! -x "$bin/ptxas" ]; then
    echo "fetching nvidia-cuda-toolkit (Debian bookworm non-free) into $cache" >&2
    mkdir -p "$cache/apt/lists/partial" "$cache/apt/archives/partial" "$cache/apt/sources"
    cat > "$cache/apt/sources/bookworm.sources" <<SRC
Types: deb
URIs: http://deb.debian.org/debian
Suites: bookworm bookworm-updates
Components: main contrib non-free
Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg
SRC
    # This machine's apt configuration is left alone: a private source list, package lists and lock.
    local apt=(-o Dir::Etc::SourceList=/dev/null -o Dir::Etc::SourceParts="$cache/apt/sources"
      -o Dir::State::Lists="$cache/apt/lists" -o Dir::Cache::Archives="$cache/apt/archives" -o Debug::NoLocking=1)
    apt-get "${apt[@]}" update >&2
    (cd "$cache" && apt-get "${apt[@]}" download nvidia-cuda-toolkit >&2)   # ~84 MB
    dpkg -x "$cache"/nvidia-cuda-toolkit_*.deb "$cache/x"
  fi
  echo "$bin"
}

bin=$(find_tools)
echo "# ptxas $("$bin/ptxas" --version | grep -oE 'release [0-9.]+, V[0-9.]+'), -arch=$arch, $(date -u +%Y-%m-%d)"
dotnet build "$root/Bench/Bench.csproj" -c Release -v q -nologo >/dev/null
kernels=$(IFS=,; echo "$*")
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
printf '%-26s %-3s %5s %6s %7s %11s %5s %5s %5s %5s %5s %5s %5s %5s %5s\n' kernel opt regs smem stack spill_st/ld HMMA \
  FFMA LDL STL local LDG LD STG ST
for opt in $opts; do
  ENGINE_ILGPU_OPT=$opt dotnet "$root/Bench/bin/Release/net10.0/Bench.dll" ptx --out "$work/$opt" \
    ${kernels:+--kernels "$kernels"} >/dev/null
  for f in "$work/$opt"/*.ptx; do
    name=$(basename "$f" .ptx)
    sed 's/^\.version 8\.0$/.version 7.8/' "$f" > "$work/v.ptx"
    if ! info=$("$bin/ptxas" -arch="$arch" -v "$work/v.ptx" -o "$work/k.cubin" 2>&1); then
      echo "$name $opt: ptxas failed:"; echo "$info" | head -n 5; continue
    fi
    regs=$(echo "$info" | grep -oE 'Used [0-9]+ registers' | grep -oE '[0-9]+' | head -n 1 || true)
    smem=$(echo "$info" | grep -oE '[0-9]+ bytes smem' | grep -oE '^[0-9]+' | head -n 1 || true)
    stack=$(echo "$info" | grep -oE '[0-9]+ bytes stack frame' | grep -oE '^[0-9]+' | head -n 1 || true)
    st=$(echo "$info" | grep -oE '[0-9]+ bytes spill stores' | grep -oE '^[0-9]+' | head -n 1 || true)
    ld=$(echo "$info" | grep -oE '[0-9]+ bytes spill loads' | grep -oE '^[0-9]+' | head -n 1 || true)
    sass=$("$bin/cuobjdump" -sass "$work/k.cubin")
    count() { echo "$sass" | grep -cE "$1" || true; }
    # local: ld/st.local lines in the PTX itself (what the structural test forbids)
    plocal=$(grep -cE '(ld|st)\.local' "$f" || true)
    # LDG/STG: global-space loads/stores; LD/ST: generic ones (an address-space check per access), what ILGPU's O1
    # leaves where O2 infers the global space.
    printf '%-26s %-3s %5s %6s %7s %11s %5s %5s %5s %5s %5s %5s %5s %5s %5s\n' "$name" "$opt" "$regs" "${smem:-0}" \
      "$stack" "$st/$ld" "$(count ' HMMA')" "$(count ' FFMA')" "$(count ' LDL')" "$(count ' STL')" "$plocal" \
      "$(count ' LDG\.')" "$(count ' LD\.')" "$(count ' STG\.')" "$(count ' ST\.')"
  done
done
