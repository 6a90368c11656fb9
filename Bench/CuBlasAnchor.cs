using System.Diagnostics;
using Engine.Kernels;
using Engine.Kernels.Gpu;
using Engine.Kernels.Matmul;
using Engine.Kernels.Workbench;
using ILGPU.Runtime.Cuda;

namespace Bench;

/// <summary>cuBLAS SGEMM through ILGPU.Algorithms, the in-process FLOP/s anchor on CUDA (null where it does not load).</summary>
static class CuBlasAnchor
{
    /// <summary>ILGPU.Algorithms' CuBlasMathMode names only DefaultMath and TensorOpMath; 3 is cuBLAS's
    /// CUBLAS_TF32_TENSOR_OP_MATH (fp32 GEMMs on TF32 tensor cores).</summary>
    const CuBlasMathMode Tf32 = (CuBlasMathMode)3;

    public static double? Measure(GpuBackend gpu, int n, int repeats) =>
        Measure(gpu, new MatmulOps.Gemm("square", n, n, n, false, false, false), repeats, CuBlasMathMode.DefaultMath,
            null, out _);

    /// <summary>GFLOP/s of cuBLAS on one GEMM (row-major C = op(A)·op(B) as column-major Cᵀ = op(B)ᵀ·op(A)ᵀ); with
    /// <paramref name="inputs"/> (A, B, C) it multiplies those and returns the first run's C in
    /// <paramref name="result"/>.</summary>
    public static double? Measure(GpuBackend gpu, MatmulOps.Gemm g, int repeats, CuBlasMathMode mode,
        float[][]? inputs, out float[]? result)
    {
        result = null;
        if (gpu.Accelerator is not CudaAccelerator cuda) return null;
        try
        {
            using var blas = new CuBlas(cuda);
            blas.MathMode = mode;
            using DeviceBuffer a = gpu.Allocate(g.M * g.K), b = gpu.Allocate(g.K * g.N), c = gpu.Allocate(g.M * g.N);
            var (va, vb, vc) = (((GpuBuffer)a).View, ((GpuBuffer)b).View, ((GpuBuffer)c).View);
            if (inputs is not null)
            {
                a.CopyFrom(inputs[0]);
                b.CopyFrom(inputs[1]);
                c.CopyFrom(inputs[2]);
            }
            var opA = g.TransA ? CuBlasOperation.Transpose : CuBlasOperation.NonTranspose;
            var opB = g.TransB ? CuBlasOperation.Transpose : CuBlasOperation.NonTranspose;
            int lda = g.TransA ? g.M : g.K, ldb = g.TransB ? g.K : g.N;
            var times = new List<double>();
            for (int r = 0; r < repeats + 2; r++)
            {
                gpu.Synchronize();
                var sw = Stopwatch.StartNew();
                blas.Gemm(opB, opA, g.N, g.M, g.K, 1f, vb, ldb, va, lda, g.Accumulate ? 1f : 0f, vc, g.N);
                gpu.Synchronize();
                if (r >= 2) times.Add(sw.Elapsed.TotalSeconds);
                if (r == 0 && inputs is not null) result = c.ToArray();
            }
            return 2.0 * g.M * g.N * g.K / GemmTable.Median(times) / 1e9;
        }
        catch (Exception e)
        {
            Console.WriteLine($"cuBLAS: {e.GetType().Name}: {e.Message}");
            return null;
        }
    }

    /// <summary>Table rows for cuBLAS SGEMM and cuBLAS TF32 at one GEMM on the case's inputs, their errors against
    /// the CPU reference (<paramref name="expected"/>) and against float64 (none off CUDA).</summary>
    public static IEnumerable<KernelTable.Row> Rows(GpuBackend gpu, MatmulOps.Gemm g, float[][] inputs,
        float[][] expected, int repeats, double? sgemm4096)
    {
        foreach (var (name, mode, precision) in new[]
                 { ("cuBLAS SGEMM", CuBlasMathMode.DefaultMath, "fp32"), ("cuBLAS TF32", Tf32, "tf32") })
        {
            if (Measure(gpu, g, repeats, mode, inputs, out float[]? result) is not double gflops) yield break;
            double ms = 2.0 * g.M * g.N * g.K / (gflops * 1e9) * 1e3;
            double? f64 = result is null ? null : GemmError.Float64(g, inputs, result);
            double err = result is null ? double.PositiveInfinity : Harness.MaxRelErr(expected, [result]);
            Console.WriteLine($"{"matmul " + name,-20} {"",2} {g.Shape,-34} {err,11:E1} {ms,10:F3} {gflops,10:F1} " +
                              "GFLOP/s " +
                              $"{(sgemm4096 is double s ? $"{gflops / s:P0}" : "-"),7}" +
                              (f64 is double e ? $"  float64 err {e:E1}" : ""));
            yield return new KernelTable.Row("matmul " + name, 0, g.Shape, err, ms, gflops, "GFLOP/s", gflops / sgemm4096,
                precision, f64);
        }
    }
}
