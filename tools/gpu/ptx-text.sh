#!/usr/bin/env bash
# Regenerates the inline-PTX constant files (Kernels/**/*.g.cs) from their C# builders (Kernels/Gpu/PtxText.cs):
# run after changing a builder; TensorCorePtxTests fails while a generated constant is stale.
set -euo pipefail
root=$(cd "$(dirname "$0")/../.." && pwd)
dotnet build "$root/Bench/Bench.csproj" -c Release -v q -nologo >/dev/null
dotnet "$root/Bench/bin/Release/net10.0/Bench.dll" ptx --generate-text "$root"
dotnet build "$root/Bench/Bench.csproj" -c Release -v q -nologo >/dev/null
