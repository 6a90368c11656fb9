#!/usr/bin/env bash
# Prepares .gpu/ at the project root for a GPU machine: a published, framework-dependent build of
# the engine and the benchmarks (one folder, so both dlls run) plus this machine's .NET runtime,
# since the GPU machine has no .NET.
#   usage (from the project root):  tools/gpu/pack.sh [PROJECT_DIR...]    default: Bench Engine
# Then, with .gpu/ carried to the GPU machine, from the project root there:
#   bash .gpu/run.sh Bench.dll kernels --device cuda
#   bash .gpu/run.sh engine.dll demo --device cuda
# .gpu/ is added to .git/info/exclude, so it is never committed. Extra files a GPU call needs
# (a config.json, a script) can be copied into .gpu/ after packing. Keep it under ~50 MiB.
set -euo pipefail
root=$(git rev-parse --show-toplevel)
cd "$root"
projects=("$@"); [ ${#projects[@]} -gt 0 ] || projects=(Bench Engine)
grep -qx '/.gpu/' .git/info/exclude 2>/dev/null || echo '/.gpu/' >> .git/info/exclude
rm -rf .gpu && mkdir -p .gpu/build
for p in "${projects[@]}"; do
  dotnet publish "$p" -c Release -r linux-x64 --self-contained false -o ".gpu/pub-$p" -v q -nologo
  cp -rn ".gpu/pub-$p"/. .gpu/build/ && rm -rf ".gpu/pub-$p"
done
tar -C .gpu/build -cJf .gpu/app.tar.xz . && rm -rf .gpu/build
dn=$(dirname "$(readlink -f "$(command -v dotnet)")")
rt=$(ls "$dn/shared/Microsoft.NETCore.App" | sort -V | tail -n 1)
tar -C "$dn" -cJf .gpu/dotnet.tar.xz dotnet host "shared/Microsoft.NETCore.App/$rt"
cat > .gpu/run.sh <<'RUN'
#!/usr/bin/env bash
# On the GPU machine: unpack the runtime once and this build once per build, then run one of its dlls.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
cache=${XDG_CACHE_HOME:-$HOME/.cache}/engine-gpu
export DOTNET_ROOT=$cache/dotnet DOTNET_CLI_TELEMETRY_OPTOUT=1 DOTNET_SYSTEM_GLOBALIZATION_INVARIANT=1
[ -x "$DOTNET_ROOT/dotnet" ] || { mkdir -p "$DOTNET_ROOT"; tar -C "$DOTNET_ROOT" -xJf "$here/dotnet.tar.xz"; }
app=$cache/app-$(cksum < "$here/app.tar.xz" | cut -d' ' -f1)   # a warm machine may hold an older build
[ -f "$app/.done" ] || { rm -rf "$app"; mkdir -p "$app"; tar -C "$app" -xJf "$here/app.tar.xz"; touch "$app/.done"; }
# The CUDA libraries that PyTorch's wheels ship (cuBLAS for the in-process anchor).
nv=$(python3 -c 'import nvidia; print(list(nvidia.__path__)[0])' 2>/dev/null || true)
for d in ${nv:+$nv/*/lib}; do [ -d "$d" ] && export LD_LIBRARY_PATH="$d:${LD_LIBRARY_PATH:-}"; done
# ILGPU's cuBLAS binding asks for libcublas.so.12; PyTorch's CUDA 13 wheels ship libcublas.so.13,
# whose SGEMM entry points it calls the same way: offer it under the old name (seen working on an H100).
c13=$( { ls ${nv:+$nv/*/lib/libcublas.so.13} 2>/dev/null || true; } | head -n 1)
if [ -n "$c13" ]; then
  compat=$cache/cublas-compat; mkdir -p "$compat"
  ln -sf "$c13" "$compat/libcublas.so.12"; ln -sf "$c13" "$compat/libcublas.so"
  export LD_LIBRARY_PATH="$compat:${LD_LIBRARY_PATH:-}"
fi
dll=$1; shift
exec "$DOTNET_ROOT/dotnet" "$app/$dll" "$@"
RUN
chmod +x .gpu/run.sh
du -sh .gpu
