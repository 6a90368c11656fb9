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
        CudaArchitecture architecture = device is CudaAccelerator cuda ? cuda.Architecture : CudaArchitecture.SM_80;
        CudaInstructionSet instructions = device is CudaAccelerator c ? c.InstructionSet : CudaInstructionSet.ISA_80;
        Directory.CreateDirectory(dir);
        // The same compiler settings as GpuDevice (ENGINE_ILGPU_OPT included).
        using var context = Context.Create(b => b.CPU().EnableAlgorithms().Optimize(GpuDevice.Optimization()));
        using var backend = new PTXBackend(context, architecture, instructions, null!);   // no NVVM: ILGPU's own PTX generator
        var files = new List<string>();
        foreach (var (method, grouped) in kernels.Distinct())
        {
            var entry = grouped ? EntryPointDescription.FromExplicitlyGroupedKernel(method)
                : EntryPointDescription.FromImplicitlyGroupedKernel(method);
            var compiled = (PTXCompiledKernel)backend.Compile(entry, default);
            string file = Path.Combine(dir, $"{method.DeclaringType?.Name}.{method.Name}.ptx");
            File.WriteAllText(file, compiled.PTXAssembly);
            files.Add(file);
        }
        return files;
    }
}
