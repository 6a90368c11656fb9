using System.Diagnostics;
using Engine.Kernels.Matmul;

namespace Bench;

/// <summary>
/// `Bench gemm`: our CPU GEMM against OpenBLAS at the same shapes, in one process, interleaved so
/// both see the same machine state. Prints GFLOP/s (median of the repeats) and the ratio.
/// </summary>
static class GemmTable
{
    public static int Run(int[] sizes, int repeats, bool transB)
    {
        Console.WriteLine($"{DateTime.UtcNow:yyyy-MM-dd} CPU GEMM, C[n,n] = A·B{(transB ? "ᵀ" : "")}, float32, {Environment.ProcessorCount} threads, " +
                          $"micro-kernel {GemmMicroKernel.MR}x{GemmMicroKernel.NR} ({(GemmMicroKernel.Wide ? "Vector512" : "Vector256")}), median of {repeats}");
        if (!OpenBlas.Available) Console.WriteLine(OpenBlas.InstallHint);
        else Console.WriteLine($"anchor: OpenBLAS cblas_sgemm, {OpenBlas.Threads} threads");
        Console.WriteLine($"{"n",6} {"ours ms",10} {"ours GFLOP/s",13} {"OpenBLAS ms",12} {"OpenBLAS GFLOP/s",17} {"ratio",7} {"max|diff|",10}");
        foreach (int n in sizes)
        {
            var rng = new Random(n);
            float[] a = Rand(rng, n * n), b = Rand(rng, n * n), c = new float[n * n], cRef = new float[n * n];
            double flops = 2.0 * n * n * n;
            // Ours first, then OpenBLAS, not interleaved: OpenBLAS's worker threads keep spinning for a
            // while after each call and would steal the cores from whatever runs next.
            List<double> Runs(Action gemm)
            {
                const int warmups = 3;   // caches, the array pool, the thread pool, the JIT
                for (int r = 0; r < warmups; r++) gemm();
                return Enumerable.Range(0, repeats).Select(_ => Time(gemm)).ToList();
            }
            var ours = Runs(() => MatmulCpu.Gemm(a, b, c, n, n, n, false, transB, false));
            var blas = OpenBlas.Available ? Runs(() => OpenBlas.Sgemm(a, b, cRef, n, n, n, false, transB)) : [];
            double mo = Median(ours), mb = OpenBlas.Available ? Median(blas) : double.NaN;
            float diff = 0;
            if (OpenBlas.Available) for (int i = 0; i < c.Length; i++) diff = Math.Max(diff, Math.Abs(c[i] - cRef[i]));
            Console.WriteLine($"{n,6} {mo * 1e3,10:F2} {flops / mo / 1e9,13:F1} {mb * 1e3,12:F2} {flops / mb / 1e9,17:F1} {mb / mo,7:F2} {diff,10:G3}");
        }
        return 0;
    }

    static float[] Rand(Random rng, int count)
    {
        var x = new float[count];
        for (int i = 0; i < count; i++) x[i] = (float)(rng.NextDouble() * 2 - 1);
        return x;
    }

    static double Time(Action f)
    {
        var sw = Stopwatch.StartNew();
        f();
        return sw.Elapsed.TotalSeconds;
    }

    public static double Median(List<double> xs)
    {
        var s = xs.OrderBy(x => x).ToArray();
        return s.Length % 2 == 1 ? s[s.Length / 2] : 0.5 * (s[s.Length / 2 - 1] + s[s.Length / 2]);
    }
}
