using System.Reflection;
using Engine.Kernels.Attention;
using Engine.Kernels.Matmul;

namespace Engine.Kernels.Gpu;

/// <summary>
/// The kernels that issue tensor-core PTX (<c>mma.sync</c>), by a short name, for the offline PTX check
/// (<c>Bench ptx</c>, tools/gpu/ptxas-offline.sh) and the structural test that their PTX holds no local memory;
/// and the SIMT kernels the same offline check reads (<see cref="Simt"/>).
/// Kernel methods are private to their files; reflection finds them by name so the files keep their shape.
/// </summary>
public static class TensorCoreKernels
{
    /// <summary>(name, kernel method, explicitly grouped, register-resident) for every tensor-core kernel.
    /// RegisterResident: its MMA state lives in PTX-declared registers, so its PTX must hold no local memory
    /// (TensorCorePtxTests); the others pass MMA operands through EmitRef, which ILGPU lowers through local
    /// memory.</summary>
    public static IReadOnlyList<(string Name, MethodInfo Method, bool Grouped, bool RegisterResident)> All { get; } =
    [
        ("matmul-v5-tf32", Find(typeof(MatmulTf32Gpu), "Kernel"), true, false),
        ("matmul-v6-3xtf32", Find(typeof(Matmul3xTf32Gpu), "Kernel"), true, false),
        ("matmul-v8-tf32-regs", Find(typeof(MatmulTf32RegGpu), "Kernel"), true, true),
        ("matmul-v9-3xtf32-regs", Find(typeof(Matmul3xTf32RegGpu), "Kernel"), true, true),
        ("matmul-v10-tf32-async", Find(typeof(MatmulTf32AsyncGpu), "Kernel"), true, true),
        ("matmul-v11-3xtf32-async", Find(typeof(Matmul3xTf32AsyncGpu), "Kernel"), true, true),
        ("attention-fwd-v3", Find(typeof(AttentionForwardV3), "Kernel"), true, false),
        ("attention-bwd-v3-kv", Find(typeof(AttentionBackwardV3), "KeyValueKernel"), true, false),
        ("attention-bwd-v3-q", Find(typeof(AttentionBackwardV3), "QueryKernel"), true, false),
        ("attention-fwd-v5", Find(typeof(AttentionForwardV3), "KernelRegs"), true, true),
        ("attention-bwd-v5-kv", Find(typeof(AttentionBackwardV3), "KeyValueKernelRegs"), true, true),
        ("attention-bwd-v5-q", Find(typeof(AttentionBackwardV3), "QueryKernelRegs"), true, true),
    ];

    /// <summary>The CUDA-core kernels the GPU issues' goals are about (SIMT GEMM, flash attention, flash-decoding),
    /// for the same offline check (registers, spills, local memory), not for the tensor-core tests.</summary>
    public static IReadOnlyList<(string Name, MethodInfo Method, bool Grouped)> Simt { get; } =
    [
        ("matmul-v3-tiled", Find(typeof(MatmulTiledGpu), "Kernel"), true),
        ("matmul-v7-warp", Find(typeof(MatmulWarpTiledGpu), "Kernel"), true),
        ("matmul-v12-unrolled", Find(typeof(MatmulUnrolledGpu), "Kernel"), true),
        ("attention-fwd-v2", Find(typeof(AttentionForwardV2), "Kernel"), true),
        ("attention-fwd-v7", Find(typeof(AttentionForwardV7), "Kernel"), true),
        ("attention-bwd-v2-kv", Find(typeof(AttentionBackwardV2), "KeyValueKernel"), true),
        ("attention-bwd-v2-q", Find(typeof(AttentionBackwardV2), "QueryKernel"), true),
        ("attention-bwd-v7-kv", Find(typeof(AttentionBackwardV7), "KeyValueKernel"), true),
        ("attention-bwd-v7-q", Find(typeof(AttentionBackwardV7), "QueryKernel"), true),
        ("attention-decode-v2", Find(typeof(AttentionDecodeGpu), "SplitKernel"), true),
    ];

    /// <summary>Every kernel `Bench ptx` writes: the tensor-core ones, then the SIMT ones.</summary>
    public static IReadOnlyList<(string Name, MethodInfo Method, bool Grouped)> Offline =>
        [.. All.Select(k => (k.Name, k.Method, k.Grouped)), .. Simt];

    static MethodInfo Find(Type type, string name) =>
        type.GetMethod(name, BindingFlags.Static | BindingFlags.NonPublic | BindingFlags.Public)
        ?? throw new MissingMethodException(type.FullName, name);

    /// <summary>Writes DIR/&lt;name&gt;.ptx for the kernels whose names are listed (all when none are), compiled at
    /// ENGINE_ILGPU_OPT's level; returns (name, file) pairs.</summary>
    public static IReadOnlyList<(string Name, string File)> Write(string dir, IReadOnlyCollection<string>? names = null)
    {
        var chosen = Offline.Where(k => names is null || names.Count == 0 || names.Contains(k.Name)).ToList();
        if (names is not null && names.Count > 0 && chosen.Count != names.Count)
            throw new ArgumentException(
                $"unknown kernel name; known: {string.Join(", ", Offline.Select(k => k.Name))}");
        Directory.CreateDirectory(dir);
        var ptx = PtxDump.Compile(chosen.Select(k => (k.Method, k.Grouped)), GpuDevice.Optimization());
        var result = new List<(string, string)>();
        for (int i = 0; i < chosen.Count; i++)
        {
            string file = Path.Combine(dir, chosen[i].Name + ".ptx");
            File.WriteAllText(file, ptx[i].Ptx);
            result.Add((chosen[i].Name, file));
        }
        return result;
    }
}
