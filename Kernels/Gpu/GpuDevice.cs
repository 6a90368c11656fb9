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

    /// <summary>kind: cuda | opencl | ilgpu-cpu | ilgpu-cpu32. ilgpu-cpu simulates warps of 4 and groups of 16 threads;
    /// ilgpu-cpu32 simulates a CUDA-shaped device (warps of 32, groups up to 1024) for the kernels that need it
    /// (256-thread GEMM tiles, tensor-core fragments), at a higher cost per group.</summary>
    public static (Context Context, Accelerator Accelerator) Open(string kind)
    {
        Context? context = null;
        try
        {
            switch (kind)
            {
                case "cuda":
                    context = Context.Create(b => b.Cuda().EnableAlgorithms());
                    if (context.GetCudaDevices().Count == 0) throw new NotSupportedException("--device cuda: no CUDA device found");
                    return (context, context.CreateCudaAccelerator(0));
                case "opencl":
                    context = Context.Create(b => b.OpenCL().EnableAlgorithms());
                    if (context.GetCLDevices().Count == 0) throw new NotSupportedException("--device opencl: no OpenCL device found");
                    return (context, context.CreateCLAccelerator(0));
                case "ilgpu-cpu":
                    context = Context.Create(b => b.CPU().EnableAlgorithms());
                    return (context, context.CreateCPUAccelerator(0));
                case "ilgpu-cpu32":
                    context = Context.Create(b => b.CPU(CPUDeviceKind.Nvidia).EnableAlgorithms());
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
