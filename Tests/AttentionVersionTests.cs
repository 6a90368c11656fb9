using Engine.Kernels;
using Engine.Kernels.Attention;
using NUnit.Framework;

namespace Engine.Tests;

/// <summary>
/// The attention versions after v1 (FlashAttention-2 layouts, 32-lane warps) on ILGPU's 32-wide CPU accelerator
/// against the CPU reference, forward (out, lse) and all three gradients (accumulated into nonzero buffers), at
/// shapes that cross every block size. By default v2 at GQA D = 64 and MQA D = 128 (the workbench tests add every
/// version at B2 T5 H4/2 D8 and T = 1); with ENGINE_SLOW_TESTS=1 the full matrix: MHA, GQA, MQA; D = 32, 40
/// (padded), 64, 128; T = 1 and T off every block, for v2, v3 (TF32) and v4 (3×TF32). Two runs must give the same
/// bits. Also: --precision picks the tensor-core versions, and the register forms (forward and backward v5/v6) give
/// v3/v4's bits on the twin (the backward's at D = 8 and 128 by default, over the tensor-core matrix when slow), and
/// the prefetching SIMT versions (forward and backward v7) give v2's bits.
/// </summary>
[NonParallelizable]
public class AttentionVersionTests
{
    static GpuBackend gpu = null!;
    static readonly CpuBackend cpu = new();

    [OneTimeSetUp] public void Open() => gpu = new GpuBackend("ilgpu-cpu32");
    [OneTimeTearDown] public void Close() => gpu.Dispose();

    // (batch, steps, qHeads, kvHeads, headDim). The 32-wide simulator runs every lane as a thread and every shuffle as
    // a rendezvous of 32 threads, so `dotnet test` keeps two shapes for v2 (with the workbench's D = 8 and D = 2
    // cases of every version, about 40 s on 2 idle cores); ENGINE_SLOW_TESTS=1 adds the full matrix below, minutes.
    static readonly (int B, int T, int Hq, int Hkv, int D)[] Shapes =
    [
        (1, 37, 4, 2, 64),    // grouped-query, T off the 16-row warps and the 32-key blocks
        (1, 33, 3, 1, 128),   // multi-query, the largest head (32 query rows / 16 key rows per group)
    ];

    static readonly (int B, int T, int Hq, int Hkv, int D)[] SlowShapes =
    [
        (1, 40, 1, 1, 32),    // multi-head, D = 32 (the workbench's D = 8 runs the same padded-to-32 path)
        (1, 1, 2, 1, 64),     // T = 1, grouped-query
        (1, 66, 2, 2, 32),    // multi-head with two heads; T off the 64-row blocks
        (1, 21, 2, 1, 40),    // a head size padded to 64 in shared memory
    ];

    // The tensor-core versions run their MMAs through software twins that gather fragments with 32 shuffles each:
    // ~2–5 minutes per shape on 2 loaded cores for 3×TF32, so all of them are in the slow set (the workbench tests
    // run v3 and v4 at B2 T5 H4/2 D8 and T = 1 by default). Measured 2026-11-25: all pass; TF32's worst error
    // 6.9e-4 (dv), 3×TF32's 7.9e-7.
    static readonly (int B, int T, int Hq, int Hkv, int D)[] TensorCoreShapes =
    [
        (1, 1, 2, 1, 64),     // T = 1, grouped-query
        (1, 21, 4, 2, 32),    // grouped-query, T off the warps' 16 rows
        (1, 35, 2, 1, 64),    // multi-query, T off the 32-key blocks
        (1, 17, 2, 2, 128),   // multi-head, the largest head (16 rows per group: two query and two key blocks)
    ];

    static bool Slow => Environment.GetEnvironmentVariable("ENGINE_SLOW_TESTS") == "1";

    // Forward v7 (v2 with prefetched K/V blocks, D ≤ 64) runs v2's math: by default its GQA D = 64 shape here
    // (D = 128 would run v2 itself) and the bit-for-bit comparison with v2 below; all of v2's shapes when slow.
    static IEnumerable<TestCaseData> Cases() =>
        from v in AttentionOps.ForwardGpu.Select(f => f.Version).Where(v => v.Number > 1)
        from s in v.Number == 2 ? Slow ? [.. Shapes, .. SlowShapes] : Shapes
            : v.Number == 7 ? Slow ? [.. Shapes, .. SlowShapes] : Shapes[..1]
            : Slow ? TensorCoreShapes : []
        select new TestCaseData(v.Number, s.B, s.T, s.Hq, s.Hkv, s.D)
            .SetName($"attention v{v.Number} ({v.Name}) B{s.B} T{s.T} H{s.Hq}/{s.Hkv} D{s.D}");

    static float[] Rand(Random r, int n) =>
        Enumerable.Range(0, n).Select(_ => (float)(r.NextDouble() * 2 - 1)).ToArray();

    static DeviceBuffer Up(IBackend be, float[] x)
    {
        var b = be.Allocate(x.Length);
        b.CopyFrom(x);
        return b;
    }

    /// <summary>Forward (out, lse) then backward from the CPU's out and lse, dq/dk/dv starting at
    /// <paramref name="g0"/>.</summary>
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

    /// <summary>A backward's inputs: random q, k, v, dout (X) and nonzero starting gradients (G0: they are
    /// accumulated into), with out and lse from the CPU forward.</summary>
    sealed record BackwardCase(float[][] X, float[][] G0, float[] O, float[] Lse, int B, int T, int Hq, int Hkv, int D)
    {
        public static BackwardCase Make(Random r, int B, int T, int Hq, int Hkv, int D)
        {
            int nq = B * T * Hq * D, nk = B * T * Hkv * D;
            float[][] x = [Rand(r, nq), Rand(r, nk), Rand(r, nk), Rand(r, nq)];
            float[][] g0 = [Rand(r, nq), Rand(r, nk), Rand(r, nk)];
            var (o, lse) = (new float[nq], new float[B * Hq * T]);
            AttentionCpu.Forward(x[0], x[1], x[2], o, lse, B, T, Hq, Hkv, D);
            return new(x, g0, o, lse, B, T, Hq, Hkv, D);
        }

        /// <summary>dq, dk, dv after one backward on <paramref name="be"/>.</summary>
        public float[][] Backward(IBackend be)
        {
            var (q, k, v, dout) = (Up(be, X[0]), Up(be, X[1]), Up(be, X[2]), Up(be, X[3]));
            var (dq, dk, dv) = (Up(be, G0[0]), Up(be, G0[1]), Up(be, G0[2]));
            be.AttentionBackward(q, k, v, Up(be, O), Up(be, Lse), dout, dq, dk, dv, B, T, Hq, Hkv, D);
            return [dq.ToArray(), dk.ToArray(), dv.ToArray()];
        }
    }

    static float[][] BackwardPinned(int version, BackwardCase c)
    {
        gpu.Versions.Pin(AttentionOps.Backward, version);
        try { return c.Backward(gpu); }
        finally { gpu.Versions.Pin(AttentionOps.Backward, 0); }
    }

    /// <summary>--precision picks the forward version: tf32 gives v5's bits, 3xtf32 v6's, fp32 the default's
    /// (v2 on this 32-wide device).</summary>
    [Test]
    public void PrecisionPicksTheAttentionVersion()
    {
        var r = new Random(5);
        const int B = 1, T = 4, Hq = 1, Hkv = 1, D = 4;
        float[][] x = [Rand(r, B * T * Hq * D), Rand(r, B * T * Hkv * D), Rand(r, B * T * Hkv * D)];
        float[] Forward()
        {
            var (q, k, v) = (Up(gpu, x[0]), Up(gpu, x[1]), Up(gpu, x[2]));
            var (o, lse) = (gpu.Allocate(x[0].Length), gpu.Allocate(B * Hq * T));
            gpu.Attention(q, k, v, o, lse, B, T, Hq, Hkv, D);
            return o.ToArray();
        }
        float[] Pinned(int version)
        {
            gpu.Versions.Pin(AttentionOps.Forward, version);
            try { return Forward(); }
            finally { gpu.Versions.Pin(AttentionOps.Forward, 0); }
        }
        AssertPrecisionPicks(Forward, Pinned(2), Pinned(AttentionOps.ForwardTf32Version),
            Pinned(AttentionOps.ForwardThreeXTf32Version));
    }

    /// <summary>Runs <paramref name="run"/> under each --precision: tf32 and 3xtf32 must give the bits of the versions
    /// pinned for them, fp32 the default's.</summary>
    static void AssertPrecisionPicks(Func<float[]> run, float[] fp32, float[] tf32, float[] threeX)
    {
        Assert.That(tf32, Is.Not.EqualTo(fp32), "TF32 rounding shows in the bits (else this test proves nothing)");
        try
        {
            gpu.Precision = Precision.Tf32;
            Assert.That(run(), Is.EqualTo(tf32), "tf32");
            gpu.Precision = Precision.ThreeXTf32;
            Assert.That(run(), Is.EqualTo(threeX), "3xtf32");
            gpu.Precision = Precision.Fp32;
            Assert.That(run(), Is.EqualTo(fp32), "fp32: the default version");
        }
        finally { gpu.Precision = Precision.Fp32; }
    }

    /// <summary>out and lse of the forward pinned to one version.</summary>
    static float[][] ForwardPinned(int version, float[] q, float[] k, float[] v, int B, int T, int Hq, int Hkv, int D)
    {
        gpu.Versions.Pin(AttentionOps.Forward, version);
        try
        {
            using var o = gpu.Allocate(q.Length);
            using var lse = gpu.Allocate(B * Hq * T);
            using DeviceBuffer dq = Up(gpu, q), dk = Up(gpu, k), dv = Up(gpu, v);
            gpu.Attention(dq, dk, dv, o, lse, B, T, Hq, Hkv, D);
            return [o.ToArray(), lse.ToArray()];
        }
        finally { gpu.Versions.Pin(AttentionOps.Forward, 0); }
    }

    /// <summary>--precision picks the backward version: tf32 and 3xtf32 the register forms (v5/v6, whose bits on the
    /// twin are v3/v4's, so the constants are checked too), fp32 the default (v2 on this 32-wide device).</summary>
    [Test]
    public void PrecisionPicksTheAttentionBackwardVersion()
    {
        Assert.That((AttentionOps.Tf32Version, AttentionOps.ThreeXTf32Version), Is.EqualTo((5, 6)));
        var r = new Random(6);
        const int B = 1, T = 4, Hq = 1, Hkv = 1, D = 4;
        float[][] x = [Rand(r, B * T * Hq * D), Rand(r, B * T * Hkv * D), Rand(r, B * T * Hkv * D),
            Rand(r, B * T * Hq * D)];
        var (o, lse) = (new float[B * T * Hq * D], new float[B * Hq * T]);
        AttentionCpu.Forward(x[0], x[1], x[2], o, lse, B, T, Hq, Hkv, D);
        float[] Backward()
        {
            var (q, k, v, dout) = (Up(gpu, x[0]), Up(gpu, x[1]), Up(gpu, x[2]), Up(gpu, x[3]));
            var (dq, dk, dv) = (gpu.Allocate(x[0].Length), gpu.Allocate(x[1].Length), gpu.Allocate(x[2].Length));
            gpu.AttentionBackward(q, k, v, Up(gpu, o), Up(gpu, lse), dout, dq, dk, dv, B, T, Hq, Hkv, D);
            return [.. dq.ToArray(), .. dk.ToArray(), .. dv.ToArray()];
        }
        float[] Pinned(int version)
        {
            gpu.Versions.Pin(AttentionOps.Backward, version);
            try { return Backward(); }
            finally { gpu.Versions.Pin(AttentionOps.Backward, 0); }
        }
        AssertPrecisionPicks(Backward, Pinned(2), Pinned(5), Pinned(6));
    }

    [Test]
    public void TheDefaultFollowsPrecisionThenPinThenDevice()
    {
        foreach (var op in new[] { AttentionOps.Forward, AttentionOps.Backward })
        {
            bool forward = op == AttentionOps.Forward;
            int tf32 = forward ? AttentionOps.ForwardTf32Version : AttentionOps.Tf32Version;
            int three = forward ? AttentionOps.ForwardThreeXTf32Version : AttentionOps.ThreeXTf32Version;
            Assert.That(AttentionOps.Choose(op, Precision.Fp32, null, 32, 1024), Is.EqualTo(2), "a CUDA-shaped device");
            Assert.That(AttentionOps.Choose(op, Precision.Fp32, null, 32, 64), Is.EqualTo(1), "groups under 128");
            Assert.That(AttentionOps.Choose(op, Precision.Fp32, null, 4, 16), Is.EqualTo(1), "ilgpu-cpu");
            Assert.That(AttentionOps.Choose(op, Precision.Fp32, 7, 32, 1024), Is.EqualTo(7), "a pin wins under fp32");
            Assert.That(AttentionOps.Choose(op, Precision.Tf32, 7, 32, 1024), Is.EqualTo(tf32), "precision wins");
            Assert.That(AttentionOps.Choose(op, Precision.ThreeXTf32, null, 32, 1024), Is.EqualTo(three));
            Assert.That(AttentionOps.Choose(op, Precision.Tf32, null, 4, 16), Is.EqualTo(1), "no tensor cores");
        }
    }

    [TestCase(5, 3)]
    [TestCase(6, 4)]
    public void RegisterFormForwardGivesTheBitsOfItsOriginalOnTheTwin(int version, int original)
    {
        // Forward v5/v6 run v3/v4's body with another accumulator unit; on the CPU accelerator both units hold the
        // state in ILGPU values and call the same twins, so every bit must agree (GQA, T off the 16-row warps).
        const int B = 1, T = 19, Hq = 2, Hkv = 1, D = 8;
        var r = new Random(version);
        float[] q = Rand(r, B * T * Hq * D), k = Rand(r, B * T * Hkv * D), v = Rand(r, B * T * Hkv * D);
        float[][] Forward(int pinned) => ForwardPinned(pinned, q, k, v, B, T, Hq, Hkv, D);
        var (got, want) = (Forward(version), Forward(original));
        Assert.That(got[0], Is.EqualTo(want[0]), "out");
        Assert.That(got[1], Is.EqualTo(want[1]), "lse");
    }

    [TestCase(1, 40, 2, 2, 32)]   // multi-head, D = 32: two 4-float slots per thread; T off the 32-key blocks
    [TestCase(1, 70, 4, 2, 64)]   // grouped-query, four slots; T off the 64-row groups
    [TestCase(2, 1, 2, 1, 40)]    // T = 1, a head padded to 64, two sequences
    [TestCase(1, 33, 2, 1, 42)]   // D % 4 != 0: slots read by 4 scalar loads (the cases above: one 128-bit load)
    public void PrefetchingForwardGivesTheBitsOfV2(int B, int T, int Hq, int Hkv, int D)
    {
        // v7 stages the same values in the same shared layout as v2 and runs v2's math, only earlier: every bit of out
        // and lse must agree.
        var r = new Random(T * 31 + D);
        float[] q = Rand(r, B * T * Hq * D), k = Rand(r, B * T * Hkv * D), v = Rand(r, B * T * Hkv * D);
        float[][] Forward(int pinned) => ForwardPinned(pinned, q, k, v, B, T, Hq, Hkv, D);
        var (got, want) = (Forward(7), Forward(2));
        Assert.That(got[0], Is.EqualTo(want[0]), "out");
        Assert.That(got[1], Is.EqualTo(want[1]), "lse");
    }

    // Backward v7 against v2, dq/dk/dv from nonzero gradients (accumulated into). By default GQA at D = 64 with
    // T off the 64-row groups (the streamed Q/dout blocks cross from one query head to the next), MHA at D = 32,
    // T = 1 at a head padded to 64 (multi-query) and D = 128 (where v7 runs v2), about 17 s; with
    // ENGINE_SLOW_TESTS=1 also multi-query over three heads, D = 40 at T off the warps, and D = 128 at T = 33.
    static readonly (int B, int T, int Hq, int Hkv, int D)[] PrefetchBackwardShapes =
    [
        (1, 70, 4, 2, 64),    // grouped-query, four slots per block; T off the 64-row groups
        (1, 40, 2, 2, 32),    // multi-head, D = 32: two slots per block; T off the 32-row blocks
        (2, 1, 2, 1, 40),     // T = 1, a head padded to 64, two sequences, multi-query
        (1, 2, 2, 1, 128),    // D = 128: v2 runs
        (1, 21, 2, 1, 42),    // D % 4 != 0: slots read by 4 scalar loads (the shapes above: one 128-bit load)
    ];

    static readonly (int B, int T, int Hq, int Hkv, int D)[] PrefetchBackwardSlowShapes =
    [
        (1, 35, 3, 1, 64),    // multi-query: three heads' blocks streamed through one group
        (1, 21, 2, 1, 40),    // a head padded to 64, T off the warps' 16 rows
        (1, 33, 3, 1, 128),   // D = 128 over two key blocks: v2 runs
    ];

    static IEnumerable<TestCaseData> PrefetchBackwardCases() =>
        from s in Slow ? [.. PrefetchBackwardShapes, .. PrefetchBackwardSlowShapes] : PrefetchBackwardShapes
        select new TestCaseData(s.B, s.T, s.Hq, s.Hkv, s.D)
            .SetName($"attention backward v7 vs v2 B{s.B} T{s.T} H{s.Hq}/{s.Hkv} D{s.D}");

    /// <summary>Backward v7 stages the same values in the same shared layouts as v2 (Q times the same factor) and
    /// runs v2's per-block code in v2's order, only with the loads issued a block earlier: every bit of dq, dk and dv
    /// must agree (the gradients start nonzero).</summary>
    [TestCaseSource(nameof(PrefetchBackwardCases))]
    public void PrefetchingBackwardGivesTheBitsOfV2(int B, int T, int Hq, int Hkv, int D)
    {
        var c = BackwardCase.Make(new Random(HashCode.Combine(7, B, T, Hq, Hkv, D)), B, T, Hq, Hkv, D);
        var (got, want) = (BackwardPinned(7, c), BackwardPinned(2, c));
        string[] names = ["dq", "dk", "dv"];
        for (int i = 0; i < names.Length; i++)
            Assert.That(got[i], Is.EqualTo(want[i]), $"{names[i]}: v7 differs from v2");
    }

    // Backward v5/v6 against v3/v4: by default GQA at D = 8 (T off the 16-row warps) for both, and v5 at MQA
    // D = 128 (where it runs v3's kernels); with ENGINE_SLOW_TESTS=1 also the tensor-core matrix (MHA, GQA, MQA;
    // D = 32, 64, 128; T = 1 and T off every block) and D = 40 (padded to 64: two groups of 4 column tiles).
    static readonly (int B, int T, int Hq, int Hkv, int D)[] RegisterFormShapes =
    [
        (1, 19, 2, 1, 8),     // grouped-query, T off the 16-row warps (one 32-key block)
    ];

    static IEnumerable<TestCaseData> RegisterFormCases() =>
        from pair in new[] { (5, 3), (6, 4) }
        from s in Slow
            ? [.. RegisterFormShapes, .. TensorCoreShapes, (1, 21, 2, 1, 40)]
            : pair.Item1 == 5 ? [.. RegisterFormShapes, (1, 2, 2, 1, 128)] : RegisterFormShapes
        select new TestCaseData(pair.Item1, pair.Item2, s.B, s.T, s.Hq, s.Hkv, s.D)
            .SetName($"attention backward v{pair.Item1} vs v{pair.Item2} B{s.B} T{s.T} H{s.Hq}/{s.Hkv} D{s.D}");

    /// <summary>
    /// Backward v5/v6 run v3/v4's body with another accumulator unit; on the CPU accelerator both hold the state in
    /// ILGPU values and call the same twins in the same order, so dq, dk, dv must agree with v3/v4's to the bit (at
    /// D > 64, where v5/v6 run v3/v4's kernels, trivially). Also: within the version's tolerance of the CPU reference,
    /// and the same bits twice. The gradients start nonzero (they are accumulated into).
    /// </summary>
    [TestCaseSource(nameof(RegisterFormCases))]
    public void RegisterFormBackwardGivesTheBitsOfItsOriginal(int version, int original, int B, int T, int Hq,
        int Hkv, int D)
    {
        var c = BackwardCase.Make(new Random(HashCode.Combine(version, B, T, Hq, Hkv, D)), B, T, Hq, Hkv, D);
        var (expected, want, first, second) = (c.Backward(cpu), BackwardPinned(original, c), BackwardPinned(version, c),
            BackwardPinned(version, c));
        double tolerance = AttentionOps.BackwardGpu[version - 1].Version.Tolerance;
        string[] names = ["dq", "dk", "dv"];
        for (int i = 0; i < names.Length; i++)
        {
            double err = Engine.Kernels.Workbench.Harness.MaxRelErr([expected[i]], [first[i]]);
            TestContext.Out.WriteLine($"{names[i]}: max relative error {err:E2}");
            Assert.That(first[i], Is.EqualTo(want[i]), $"{names[i]}: v{version} differs from v{original}");
            Assert.That(err, Is.LessThanOrEqualTo(tolerance), names[i]);
            Assert.That(second[i], Is.EqualTo(first[i]), $"{names[i]}: two runs differ");
        }
    }

    [TestCaseSource(nameof(Cases))]
    public void VersionMatchesTheCpuReference(int version, int B, int T, int Hq, int Hkv, int D)
    {
        var c = BackwardCase.Make(new Random(HashCode.Combine(version, B, T, Hq, Hkv, D)), B, T, Hq, Hkv, D);
        var (x, g0, o, lse) = (c.X, c.G0, c.O, c.Lse);
        var expected = Run(cpu, x, g0, o, lse, B, T, Hq, Hkv, D);

        // Forward v5/v6 run with backward v3/v4: backward v5/v6 are checked against the reference and against
        // v3/v4's bits by RegisterFormBackwardGivesTheBitsOfItsOriginal (the same shapes), not twice. Forward v7
        // (SIMT, prefetching) runs with backward v7 (v2's bits, PrefetchingBackwardGivesTheBitsOfV2).
        int backward = version switch { <= 4 or 7 => version, 5 or 6 => version - 2, _ => 2 };
        gpu.Versions.Pin(AttentionOps.Forward, version);
        gpu.Versions.Pin(AttentionOps.Backward, backward);
        try
        {
            var first = Run(gpu, x, g0, o, lse, B, T, Hq, Hkv, D);
            var second = Run(gpu, x, g0, o, lse, B, T, Hq, Hkv, D);
            // Each version's stated tolerance: 1e-4 (fp32 and 3×TF32), 2e-3 for TF32 (AttentionOps.Tf32Tolerance).
            double forwardTolerance = AttentionOps.ForwardGpu[version - 1].Version.Tolerance;
            double backwardTolerance = AttentionOps.BackwardGpu[backward - 1].Version.Tolerance;
            string[] names = ["out", "lse", "dq", "dk", "dv"];
            for (int i = 0; i < names.Length; i++)
            {
                double err = Engine.Kernels.Workbench.Harness.MaxRelErr([expected[i]], [first[i]]);
                TestContext.Out.WriteLine($"{names[i]}: max relative error {err:E2}");
                Assert.That(err, Is.LessThanOrEqualTo(i < 2 ? forwardTolerance : backwardTolerance), names[i]);
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
