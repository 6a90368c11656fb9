using ILGPU;
using ILGPU.Runtime;
using ILGPU.Runtime.CPU;
using ILGPU.Runtime.Cuda;
using ILGPU.Runtime.OpenCL;

namespace Engine.Kernels.Gpu;

/// <summary>
/// The ILGPU context and one accelerator: Cuda, OpenCL, or ILGPU's CPU accelerator (a simulator of
/// GPU threads — thousands of times slower than plain C#, used by the tests at small shapes).
/// </summary>
public static class GpuDevice
{
    public static bool CudaAvailable()
    {
        try
        {
            using var context = Context.Create(b => b.Cuda());
            return context.GetCudaDevices().Count > 0;
        }
        catch (Exception) { return false; }   // no driver, no libcuda: no CUDA
    }

    /// <summary>ILGPU's optimisation level for every kernel of a context: ENGINE_ILGPU_OPT=O0|O1|O2, else O2. O2
    /// infers address spaces (ld.global/st.global where O1 leaves generic loads and stores, for every kernel here) and
    /// keeps CudaAsm.EmitRef operands out of local memory, with fewer registers for every kernel but GEMM v12 (the
    /// offline ptxas table in BENCHMARKS.md): the default by that design since 2026-12-04, not by a GPU measurement.
    /// <see cref="KernelLevels"/> (ENGINE_ILGPU_OPT_KERNEL) sets it per kernel on CUDA.</summary>
    public static OptimizationLevel Optimization()
    {
        string? level = Environment.GetEnvironmentVariable("ENGINE_ILGPU_OPT");
        if (string.IsNullOrEmpty(level)) return OptimizationLevel.O2;
        return Level(level) ?? throw new ArgumentException($"ENGINE_ILGPU_OPT={level}: expected O0, O1 or O2");
    }

    /// <summary>O0, O1 or O2 as ILGPU's level; null for anything else.</summary>
    public static OptimizationLevel? Level(string text) => text switch
    {
        "O0" => OptimizationLevel.O0,
        "O1" => OptimizationLevel.O1,
        "O2" => OptimizationLevel.O2,
        _ => null,
    };

    /// <summary>Which CUDA device a process opens: 0, or in a data-parallel run its rank on the machine (modulo the
    /// device count), so that N ranks on a machine with N GPUs take one each.</summary>
    public static int CudaOrdinal { get; set; }

    /// <summary>kind: cuda | opencl | ilgpu-cpu | ilgpu-cpu32. ilgpu-cpu simulates warps of 4 and groups of 16 threads;
    /// ilgpu-cpu32 simulates a CUDA-shaped device (warps of 32, groups up to 1024) for the kernels that need it
    /// (256-thread GEMM tiles, tensor-core fragments), at a higher cost per group. profiling: streams can record
    /// timed device events (for --profile).</summary>
    public static (Context Context, Accelerator Accelerator) Open(string kind, bool profiling = false)
    {
        KernelLevels.FromEnvironment();   // a wrong list fails here, with the device, not at some later launch
        Context.Builder Build(Context.Builder b)
        {
            b.EnableAlgorithms().Optimize(Optimization());
            return profiling ? b.Profiling() : b;
        }
        Context? context = null;
        try
        {
            switch (kind)
            {
                case "cuda":
                    context = Context.Create(b => Build(b.Cuda()));
                    if (context.GetCudaDevices().Count == 0) throw new NotSupportedException("--device cuda: no CUDA device found");
                    return (context, context.CreateCudaAccelerator(CudaOrdinal % context.GetCudaDevices().Count));
                case "opencl":
                    context = Context.Create(b => Build(b.OpenCL()));
                    if (context.GetCLDevices().Count == 0) throw new NotSupportedException("--device opencl: no OpenCL device found");
                    return (context, context.CreateCLAccelerator(0));
                case "ilgpu-cpu":
                    context = Context.Create(b => Build(b.CPU()));
                    return (context, context.CreateCPUAccelerator(0));
                case "ilgpu-cpu32":
                    context = Context.Create(b => Build(b.CPU(CPUDeviceKind.Nvidia)));
                    return (context, context.CreateCPUAccelerator(0));
                default:
                    throw new ArgumentException($"gpu: unknown device kind '{kind}'");
            }
        }
        catch (Exception e) when (e is not (NotSupportedException or ArgumentException))
        {
            context?.Dispose();
            throw new NotSupportedException($"--device {kind}: could not open the accelerator ({e.GetType().Name}: {e.Message})");
        }
        catch
        {
            context?.Dispose();
            throw;
        }
    }
}
