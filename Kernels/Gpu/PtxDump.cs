using System.Reflection;
using ILGPU;
using ILGPU.Backends.EntryPoints;
using ILGPU.Backends.PTX;
using ILGPU.Runtime;
using ILGPU.Runtime.CPU;
using ILGPU.Runtime.Cuda;

namespace Engine.Kernels.Gpu;

/// <summary>
/// The PTX ILGPU generates for our kernels, written to files so that `ptxas -v` on a GPU machine shows
/// registers, spills and local-memory stack frames per kernel. ILGPU's PTX backend needs no GPU, so
/// this works anywhere; on a CUDA device it targets that device's architecture.
/// </summary>
public static class PtxDump
{
    /// <summary>Writes DIR/&lt;Type&gt;.&lt;Method&gt;.ptx for each kernel; returns the files written.</summary>
    public static IReadOnlyList<string> Write(IEnumerable<(MethodInfo Method, bool Grouped)> kernels, string dir,
        Accelerator? device = null)
    {
        Directory.CreateDirectory(dir);
        var files = new List<string>();
        var compiled = Compile(kernels, GpuDevice.Optimization(), device);
        foreach (var (method, ptx) in compiled)
        {
            string file = Path.Combine(dir, $"{method.DeclaringType?.Name}.{method.Name}.ptx");
            File.WriteAllText(file, ptx);
            files.Add(file);
        }
        return files;
    }

    /// <summary>The PTX of each kernel at the given ILGPU optimisation level, in memory (for structural
    /// tests).</summary>
    public static IReadOnlyList<(MethodInfo Method, string Ptx)> Compile(
        IEnumerable<(MethodInfo Method, bool Grouped)> kernels, OptimizationLevel level, Accelerator? device = null)
    {
        CudaArchitecture architecture = device is CudaAccelerator cuda ? cuda.Architecture : CudaArchitecture.SM_80;
        CudaInstructionSet instructions = device is CudaAccelerator c ? c.InstructionSet : CudaInstructionSet.ISA_80;
        return kernels.Distinct()
            .Select(k => (k.Method, Compile(k.Method, k.Grouped, level, architecture, instructions).PTXAssembly))
            .ToList();
    }

    /// <summary>One PTX backend per level and target, alive for the process (a compiled kernel keeps its
    /// context).</summary>
    static readonly Dictionary<(OptimizationLevel, CudaArchitecture, CudaInstructionSet), PTXBackend> backends = [];

    /// <summary>One kernel compiled by ILGPU's own PTX generator (no NVVM) at this level, with GpuDevice's
    /// compiler settings, on a context that opens no device: its PTX, and what a CUDA accelerator can load
    /// (<see cref="KernelLevels"/>).</summary>
    public static PTXCompiledKernel Compile(MethodInfo method, bool grouped, OptimizationLevel level,
        CudaArchitecture architecture, CudaInstructionSet instructions)
    {
        lock (backends)
        {
            if (!backends.TryGetValue((level, architecture, instructions), out var backend))
            {
                var context = Context.Create(b => b.CPU().EnableAlgorithms().Optimize(level));
                backends[(level, architecture, instructions)] =
                    backend = new PTXBackend(context, architecture, instructions, null!);
            }
            var entry = grouped ? EntryPointDescription.FromExplicitlyGroupedKernel(method)
                : EntryPointDescription.FromImplicitlyGroupedKernel(method);
            return (PTXCompiledKernel)backend.Compile(entry, default);
        }
    }
}
