using System.Diagnostics;
using Engine.Kernels;
using Engine.Kernels.Gpu;
using ILGPU.Runtime.Cuda;

namespace Bench;

/// <summary>cuBLAS SGEMM through ILGPU.Algorithms, the in-process FLOP/s anchor on CUDA (null where it does not load).</summary>
static class CuBlasAnchor
{
    public static double? Measure(GpuBackend gpu, int n, int repeats)
    {
        if (gpu.Accelerator is not CudaAccelerator cuda) return null;
        try
        {
            using var blas = new CuBlas(cuda);
            var a = (GpuBuffer)gpu.Allocate(n * n); var b = (GpuBuffer)gpu.Allocate(n * n); var c = (GpuBuffer)gpu.Allocate(n * n);
            var times = new List<double>();
            for (int r = 0; r < repeats + 2; r++)
            {
                gpu.Synchronize();
                var sw = Stopwatch.StartNew();
                // Row-major C = A·B is column-major Cᵀ = Bᵀ·Aᵀ.
                blas.Gemm(CuBlasOperation.NonTranspose, CuBlasOperation.NonTranspose, n, n, n, 1f, b.View, n, a.View, n, 0f, c.View, n);
                gpu.Synchronize();
                if (r >= 2) times.Add(sw.Elapsed.TotalSeconds);
            }
            return 2.0 * n * n * n / GemmTable.Median(times) / 1e9;
        }
        catch (Exception e)
        {
            Console.WriteLine($"cuBLAS: {e.GetType().Name}: {e.Message}");
            return null;
        }
    }
}
