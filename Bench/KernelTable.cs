using System.Diagnostics;
using Engine.Kernels;
using ILGPU;
using ILGPU.Runtime;

namespace Bench;

/// <summary>
/// `Bench kernels --device cuda|opencl|ilgpu-cpu`: every ILGPU kernel checked against the CPU
/// reference on the same random inputs (max relative error), then timed (warm-ups, median of
/// repeats, device synchronised), with GFLOP/s or GB/s and the share of the device's roofline:
/// the bandwidth of a large device copy and, on CUDA, a cuBLAS SGEMM, both measured in this run.
/// </summary>
static class KernelTable
{
    /// <summary>One kernel: its host inputs, how to run it on a backend, which buffer is its result, its work.</summary>
    sealed record Case(string Name, string Shape, double Work, bool Flops, float[][] Inputs, int Output, Action<IBackend, DeviceBuffer[]> Run);

    public static int Run(string device, bool small, int repeats)
    {
        using var gpu = new GpuBackend(device);
        var cpu = new CpuBackend();
        Console.WriteLine($"{DateTime.UtcNow:yyyy-MM-dd HH:mm} UTC  device: {gpu.Name}");
        var rng = new Random(1);
        var (copyGBs, copyShape) = CopyBandwidth(gpu, small);
        Console.WriteLine($"roofline: device copy {copyGBs:F1} GB/s ({copyShape})");
        double? blasGflops = CuBlasAnchor.Measure(gpu, small ? 256 : 4096, repeats);
        Console.WriteLine(blasGflops is double g ? $"roofline: cuBLAS SGEMM {(small ? 256 : 4096)}³ {g:F0} GFLOP/s" : "roofline: cuBLAS not available on this device (FLOP/s shares are left out)");
        Console.WriteLine();
        Console.WriteLine($"{"kernel",-22} {"shape",-26} {"max rel err",11} {"median ms",10} {"rate",16} {"roofline",9}");
        foreach (var c in Cases(rng, small))
        {
            float[] expected = Execute(cpu, c, out _);
            float[] actual = Execute(gpu, c, out var buffers);
            double err = 0;
            for (int i = 0; i < expected.Length; i++) err = Math.Max(err, Math.Abs(actual[i] - expected[i]) / Math.Max(1.0, Math.Abs(expected[i])));
            if (expected.All(e => e == 0f)) throw new InvalidOperationException($"{c.Name}: the reference result is all zeros; the check would be vacuous");
            var times = new List<double>();
            for (int r = 0; r < repeats + 2; r++)
            {
                gpu.Synchronize();
                var sw = Stopwatch.StartNew();
                c.Run(gpu, buffers);
                gpu.Synchronize();
                if (r >= 2) times.Add(sw.Elapsed.TotalSeconds);
            }
            double t = GemmTable.Median(times);
            double rate = c.Work / t / 1e9;
            string share = c.Flops ? (blasGflops is double bg ? $"{rate / bg:P0}" : "-") : $"{rate / copyGBs:P0}";
            Console.WriteLine($"{c.Name,-22} {c.Shape,-26} {err,11:E1} {t * 1e3,10:F3} {rate,10:F1} {(c.Flops ? "GFLOP/s" : "GB/s   "),-7} {share,7}");
        }
        return 0;
    }

    static float[] Execute(IBackend be, Case c, out DeviceBuffer[] buffers)
    {
        buffers = c.Inputs.Select(x => { var b = be.Allocate(x.Length); b.CopyFrom(x); return b; }).ToArray();
        c.Run(be, buffers);
        var result = buffers[c.Output].ToArray();
        for (int i = 0; i < buffers.Length; i++) buffers[i].CopyFrom(c.Inputs[i]);   // timing starts from the same inputs
        return result;
    }

    static (double GBs, string Shape) CopyBandwidth(GpuBackend gpu, bool small)
    {
        int n = small ? 1 << 20 : 1 << 26;
        var a = (Engine.Kernels.Gpu.GpuBuffer)gpu.Allocate(n);
        var b = (Engine.Kernels.Gpu.GpuBuffer)gpu.Allocate(n);
        var times = new List<double>();
        for (int r = 0; r < 7; r++)
        {
            gpu.Synchronize();
            var sw = Stopwatch.StartNew();
            a.View.CopyTo(b.View);
            gpu.Synchronize();
            if (r >= 2) times.Add(sw.Elapsed.TotalSeconds);
        }
        return (2.0 * 4 * n / GemmTable.Median(times) / 1e9, $"{n * 4L >> 20} MiB, read + write");
    }

    static float[] R(Random rng, int n, float scale = 1f) => Enumerable.Range(0, n).Select(_ => (float)(rng.NextDouble() * 2 - 1) * scale).ToArray();

    static IEnumerable<Case> Cases(Random rng, bool small)
    {
        int g = small ? 96 : 4096;                                        // GEMM size
        int rows = small ? 64 : 8192, cols = small ? 96 : 4096;           // row kernels [rows, cols]
        int n = rows * cols;                                              // elementwise length
        int B = small ? 1 : 2, H = small ? 2 : 8, T = small ? 40 : 1024, D = 64;   // attention
        int V = small ? 200 : 50257, N = small ? 16 : 2048;               // cross-entropy
        double bytes(int arrays, long count) => 4.0 * arrays * count;

        foreach (var (ta, tb, label) in new[] { (false, false, "A·B"), (false, true, "A·Bᵀ (linear fwd)"), (true, false, "Aᵀ·B (linear dW)") })
            yield return new Case($"matmul {label}", $"{g}x{g}x{g}", 2.0 * g * g * g, true, [R(rng, g * g), R(rng, g * g), new float[g * g]], 2,
                (be, x) => be.MatMul(x[0], x[1], x[2], g, g, g, ta, tb));

        int nq = B * T * H * D;
        double attnFlops = 4.0 * B * H * T * (T + 1) / 2 * D;                 // QKᵀ and PV over the causal half
        yield return new Case("attention fwd", $"B{B} H{H} T{T} D{D}", attnFlops, true, [R(rng, nq), R(rng, nq), R(rng, nq), new float[nq], new float[B * H * T]], 3,
            (be, x) => be.Attention(x[0], x[1], x[2], x[3], x[4], B, T, H, H, D));
        // The backward needs the forward's output and lse: computed once on the host's CPU reference inputs below.
        var q = R(rng, nq); var k = R(rng, nq); var v = R(rng, nq); var o = new float[nq]; var lse = new float[B * H * T];
        var cpuRef = new CpuBackend();
        var bufs = new[] { q, k, v }.Select(a => { var b = cpuRef.Allocate(a.Length); b.CopyFrom(a); return b; }).ToArray();
        var ob = cpuRef.Allocate(nq); var lb = cpuRef.Allocate(B * H * T);
        cpuRef.Attention(bufs[0], bufs[1], bufs[2], ob, lb, B, T, H, H, D);
        o = ob.ToArray(); lse = lb.ToArray();
        yield return new Case("attention bwd (dq)", $"B{B} H{H} T{T} D{D}", 2.5 * attnFlops, true,
            [q, k, v, o, lse, R(rng, nq), new float[nq], new float[nq], new float[nq]], 6,
            (be, x) => be.AttentionBackward(x[0], x[1], x[2], x[3], x[4], x[5], x[6], x[7], x[8], B, T, H, H, D));
        yield return new Case("attention bwd (dk)", $"B{B} H{H} T{T} D{D}", 2.5 * attnFlops, true,
            [q, k, v, o, lse, R(rng, nq), new float[nq], new float[nq], new float[nq]], 7,
            (be, x) => be.AttentionBackward(x[0], x[1], x[2], x[3], x[4], x[5], x[6], x[7], x[8], B, T, H, H, D));

        yield return new Case("add", $"{n}", bytes(3, n), false, [R(rng, n), R(rng, n), new float[n]], 2, (be, x) => be.Add(x[0], x[1], x[2]));
        yield return new Case("axpy", $"{n}", bytes(3, n), false, [R(rng, n), R(rng, n)], 1, (be, x) => be.Axpy(0.5f, x[0], x[1]));
        yield return new Case("gelu", $"{n}", bytes(2, n), false, [R(rng, n, 3), new float[n]], 1, (be, x) => be.Gelu(x[0], x[1]));
        yield return new Case("gelu bwd", $"{n}", bytes(4, n), false, [R(rng, n, 3), R(rng, n), R(rng, n)], 2, (be, x) => be.GeluBackward(x[0], x[1], x[2]));
        yield return new Case("swiglu", $"{n}", bytes(3, n), false, [R(rng, n, 3), R(rng, n), new float[n]], 2, (be, x) => be.SwiGlu(x[0], x[1], x[2]));
        yield return new Case("adamw", $"{n}", bytes(7, n), false, [R(rng, n), R(rng, n), R(rng, n), R(rng, n).Select(Math.Abs).ToArray()], 0,
            (be, x) => be.AdamW(x[0], x[1], x[2], x[3], 1e-3f, 0.9f, 0.999f, 1e-8f, 0.1f, 10));
        yield return new Case("layernorm", $"{rows}x{cols}", bytes(2, n), false, [R(rng, n, 2), R(rng, cols), R(rng, cols), new float[n], new float[rows], new float[rows]], 3,
            (be, x) => be.LayerNorm(x[0], x[1], x[2], x[3], x[4], x[5], rows, cols, 1e-5f));
        yield return new Case("rmsnorm", $"{rows}x{cols}", bytes(2, n), false, [R(rng, n, 2), R(rng, cols), new float[n], new float[rows]], 2,
            (be, x) => be.RmsNorm(x[0], x[1], x[2], x[3], rows, cols, 1e-6f));
        yield return new Case("softmax", $"{rows}x{cols}", bytes(2, n), false, [R(rng, n, 3), new float[n]], 1, (be, x) => be.Softmax(x[0], x[1], rows, cols));
        int[] targets = Enumerable.Range(0, N).Select(_ => rng.Next(V)).ToArray();
        yield return new Case("cross-entropy+grad", $"{N}x{V}", bytes(2, (long)N * V), false, [R(rng, N * V, 4), new float[N * V]], 1,
            (be, x) => be.CrossEntropy(x[0], targets, x[1], N, V));
        int[] positions = Enumerable.Range(0, B * T).Select(i => i % T).ToArray();
        yield return new Case("rope", $"B{B} T{T} H{H} D{D}", bytes(2, nq), false, [R(rng, nq), new float[nq]], 1,
            (be, x) => be.Rope(x[0], x[1], positions, B, T, H, D, 10000f));
        yield return new Case("sum of squares", $"{n}", bytes(1, n), false, [R(rng, n), new float[1]], 1,
            (be, x) => x[1].CopyFrom([be.SumOfSquares(x[0])]));
    }
}
