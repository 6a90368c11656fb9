using Engine.Kernels;
using Engine.Kernels.Attention;
using NUnit.Framework;

namespace Engine.Tests;

/// <summary>
/// The attention versions after v1 (FlashAttention-2 layouts, 32-lane warps) on ILGPU's 32-wide CPU accelerator
/// against the CPU reference, forward (out, lse) and all three gradients (accumulated into nonzero buffers), at
/// shapes that cross every block size: MHA, GQA, MQA; D = 32, 64, 128 and a padded 40; T off every block and
/// T = 1. Two runs must give the same bits. The workbench tests cover the same versions at D = 8 and D = 2.
/// </summary>
[NonParallelizable]
public class AttentionVersionTests
{
    static GpuBackend gpu = null!;
    static readonly CpuBackend cpu = new();

    [OneTimeSetUp] public void Open() => gpu = new GpuBackend("ilgpu-cpu32");
    [OneTimeTearDown] public void Close() => gpu.Dispose();

    // (batch, steps, qHeads, kvHeads, headDim): shapes tiny, the 32-wide simulator runs each group on 64–128 threads.
    static readonly (int B, int T, int Hq, int Hkv, int D)[] Shapes =
    [
        (1, 1, 2, 1, 64),     // T = 1, grouped-query
        (1, 66, 2, 2, 32),    // multi-head; T off the 32-key blocks and the 64-row blocks
        (1, 37, 4, 2, 64),    // grouped-query (batches > 1: the workbench cases)
        (1, 33, 3, 1, 128),   // multi-query, the largest head (32 query rows / 16 key rows per group)
        (1, 21, 2, 1, 40),    // a head size padded to 64 in shared memory
    ];

    static IEnumerable<TestCaseData> Cases() =>
        from v in AttentionOps.ForwardGpu.Select(f => f.Version).Where(v => v.Number > 1)
        from s in Shapes
        select new TestCaseData(v.Number, s.B, s.T, s.Hq, s.Hkv, s.D)
            .SetName($"attention v{v.Number} ({v.Name}) B{s.B} T{s.T} H{s.Hq}/{s.Hkv} D{s.D}");

    static float[] Rand(Random r, int n) => Enumerable.Range(0, n).Select(_ => (float)(r.NextDouble() * 2 - 1)).ToArray();

    static DeviceBuffer Up(IBackend be, float[] x)
    {
        var b = be.Allocate(x.Length);
        b.CopyFrom(x);
        return b;
    }

    /// <summary>Forward (out, lse) then backward from the CPU's out and lse, dq/dk/dv starting at <paramref name="g0"/>.</summary>
    static float[][] Run(IBackend be, float[][] x, float[][] g0, float[] o, float[] lse, int B, int T, int Hq, int Hkv,
        int D)
    {
        var (q, k, v, dout) = (Up(be, x[0]), Up(be, x[1]), Up(be, x[2]), Up(be, x[3]));
        var (fo, flse) = (be.Allocate(o.Length), be.Allocate(lse.Length));
        be.Attention(q, k, v, fo, flse, B, T, Hq, Hkv, D);
        var (dq, dk, dv) = (Up(be, g0[0]), Up(be, g0[1]), Up(be, g0[2]));
        be.AttentionBackward(q, k, v, Up(be, o), Up(be, lse), dout, dq, dk, dv, B, T, Hq, Hkv, D);
        return [fo.ToArray(), flse.ToArray(), dq.ToArray(), dk.ToArray(), dv.ToArray()];
    }

    [TestCaseSource(nameof(Cases))]
    public void VersionMatchesTheCpuReference(int version, int B, int T, int Hq, int Hkv, int D)
    {
        var r = new Random(HashCode.Combine(version, B, T, Hq, Hkv, D));
        int nq = B * T * Hq * D, nk = B * T * Hkv * D;
        float[][] x = [Rand(r, nq), Rand(r, nk), Rand(r, nk), Rand(r, nq)];
        float[][] g0 = [Rand(r, nq), Rand(r, nk), Rand(r, nk)];
        var (o, lse) = (new float[nq], new float[B * Hq * T]);
        AttentionCpu.Forward(x[0], x[1], x[2], o, lse, B, T, Hq, Hkv, D);
        var expected = Run(cpu, x, g0, o, lse, B, T, Hq, Hkv, D);

        gpu.Versions.Pin(AttentionOps.Forward, version);
        gpu.Versions.Pin(AttentionOps.Backward, version);
        try
        {
            var first = Run(gpu, x, g0, o, lse, B, T, Hq, Hkv, D);
            var second = Run(gpu, x, g0, o, lse, B, T, Hq, Hkv, D);
            string[] names = ["out", "lse", "dq", "dk", "dv"];
            for (int i = 0; i < names.Length; i++)
            {
                double err = Engine.Kernels.Workbench.Harness.MaxRelErr([expected[i]], [first[i]]);
                TestContext.Out.WriteLine($"{names[i]}: max relative error {err:E2}");
                Assert.That(err, Is.LessThanOrEqualTo(1e-4), names[i]);
                Assert.That(second[i], Is.EqualTo(first[i]), $"{names[i]}: two runs differ");
            }
        }
        finally
        {
            gpu.Versions.Pin(AttentionOps.Forward, 0);
            gpu.Versions.Pin(AttentionOps.Backward, 0);
        }
    }
}
