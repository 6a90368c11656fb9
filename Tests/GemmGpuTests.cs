using Engine.Kernels;
using Engine.Kernels.Gpu;
using Engine.Kernels.Matmul;
using NUnit.Framework;

namespace Engine.Tests;

/// <summary>
/// The GPU GEMM versions v3–v12 on the 32-wide CPU accelerator (ilgpu-cpu32; the tensor-core ones through their
/// software twins) against MatmulCpu.Reference, in all four layouts, accumulate on and off, at sizes off every
/// tile: several 128-row tiles, K not a multiple of the slice of 8, all dimensions multiples of 4 (the 128-bit
/// paths) and not (the scalar paths), M = 1 (decode) and K = 1 (v4, the skinny version, at M ≤ 64 only).
/// WorkbenchTests adds each version at the workbench's shapes and checks that two runs give the same bits.
/// v5, v8 and v10 (TF32) are checked against a reference on TF32-rounded inputs, so their tolerance is fp32's; the
/// shapes of v5/v6/v8–v11 are smaller because every shuffle of the MMA twin costs milliseconds on the CPU accelerator.
/// </summary>
[NonParallelizable]
public class GemmGpuTests
{
    static GpuBackend wide => TestDevices.Wide;

    static IEnumerable<TestCaseData> Cases()
    {
        int[][] tiled = [[130, 70, 33], [132, 68, 36], [1, 37, 5], [3, 5, 1]];
        int[][] skinny = [[9, 20, 36], [6, 13, 33], [1, 37, 5], [3, 5, 1]];   // M ≤ 64: what it is chosen for
        int[][] tensor = [[132, 20, 12], [1, 9, 5]];
        foreach (var (versions, shapes) in new[]
                 {
                     (new[] { 3, 7, 12 }, tiled), ([4], skinny), (new[] { 5, 6, 8, 9 }, tensor), ([10, 11], Pipeline),
                 })
            foreach (int v in versions)
                for (int s = 0; s < shapes.Length; s++)
                    for (int layout = 0; layout < 4; layout++)
                    {
                        bool ta = (layout & 1) != 0, tb = (layout & 2) != 0, acc = (s + layout) % 2 == 1;
                        int m = shapes[s][0], n = shapes[s][1], k = shapes[s][2];
                        yield return new TestCaseData(v, m, n, k, ta, tb, acc)
                            .SetName($"GemmGpu_v{v}_{m}x{n}x{k}_tA{ta}_tB{tb}_acc{acc}");
                    }
    }

    /// <summary>v10/v11's shapes: 132×20×52 (two row tiles, a partial warp column, 4 K tiles of 16 through 3 stages,
    /// the last with one slice) copies both operands in 16-byte chunks in every layout; 1×13×36 (M = 1, N = 13),
    /// 12×136×33 (K = 33, one row in the last tile; two column tiles) and 4×8×1 (K = 1) make each operand of each
    /// layout copied in 4-byte words somewhere. <see cref="TheAsyncShapesCoverBothCopies"/> checks that.</summary>
    static readonly int[][] Pipeline = [[132, 20, 52], [1, 13, 36], [12, 136, 33], [4, 8, 1]];

    [TestCaseSource(nameof(Cases))]
    public void VersionMatchesTheReference(int version, int m, int n, int k, bool transA, bool transB, bool accumulate)
    {
        var rng = new Random(version * 7919 + m * 131 + n * 17 + k);
        float[] a = GradCheck.Rand(rng, m * k), b = GradCheck.Rand(rng, k * n), c0 = GradCheck.Rand(rng, m * n);
        float[] expected = (float[])c0.Clone();
        // TF32 (v5, v8, v10) multiplies TF32-rounded inputs on purpose: the reference does the same; C is not rounded.
        bool tf32 = version is 5 or 8 or 10;
        MatmulCpu.Reference(tf32 ? a.Select(TensorCore.RoundTf32).ToArray() : a,
            tf32 ? b.Select(TensorCore.RoundTf32).ToArray() : b, expected, m, n, k, transA, transB, accumulate);
        float[] actual = Run(version, a, b, c0, m, n, k, transA, transB, accumulate);
        double worst = 0;
        for (int i = 0; i < actual.Length; i++)
            worst = Math.Max(worst, Math.Abs(actual[i] - expected[i]) / (1 + Math.Abs(expected[i])));
        // fp32 sums of k products in another order than the float64 reference: error grows like √k · 6e-8.
        Assert.That(worst, Is.LessThan(1e-5 * Math.Sqrt(k) + 1e-6), $"v{version}: worst relative error {worst:E2}");
    }

    static float[] Run(int version, float[] a, float[] b, float[] c0, int m, int n, int k, bool transA, bool transB,
        bool accumulate)
    {
        using DeviceBuffer da = wide.Allocate(a.Length), db = wide.Allocate(b.Length), dc = wide.Allocate(c0.Length);
        da.CopyFrom(a);
        db.CopyFrom(b);
        dc.CopyFrom(c0);
        if (version > 0) wide.Versions.Pin(MatmulOps.MatMul, version);
        try { wide.MatMul(da, db, dc, m, n, k, transA, transB, accumulate); }
        finally { wide.Versions.Pin(MatmulOps.MatMul, 0); }
        return dc.ToArray();
    }

    [TestCase(7)]
    [TestCase(12)]
    public void WarpTilingAndUnrollingChangeNoBit(int version)
    {
        // v7 maps threads to outputs differently from v3, v12 writes v7's k-loop out; all sum every output in the
        // same order. Every layout, through the scalar loads (K = 33: no operand row is whole F4) and the 128-bit
        // ones (all dimensions multiples of 4).
        var rng = new Random(17);
        foreach (var (m, n, k) in new[] { (130, 70, 33), (132, 68, 36) })
            for (int layout = 0; layout < 4; layout++)
            {
                bool ta = (layout & 1) != 0, tb = (layout & 2) != 0;
                float[] a = GradCheck.Rand(rng, m * k), b = GradCheck.Rand(rng, k * n), c = GradCheck.Rand(rng, m * n);
                Assert.That(Run(version, a, b, c, m, n, k, ta, tb, true),
                    Is.EqualTo(Run(3, a, b, c, m, n, k, ta, tb, true)), $"{m}x{n}x{k} tA={ta} tB={tb}");
            }
    }

    [TestCase(8, 5)]
    [TestCase(9, 6)]
    public void RegisterResidentFormChangesNoBitOfTheTwin(int version, int original)
    {
        // v8/v9 run v5/v6's tiling and arithmetic with the state in PTX registers; their twins must agree bit for bit
        // (edges included: 132 rows is two row tiles, 20 columns one partial warp column).
        var rng = new Random(version);
        float[] a = GradCheck.Rand(rng, 132 * 12), b = GradCheck.Rand(rng, 12 * 20), c = GradCheck.Rand(rng, 132 * 20);
        Assert.That(Run(version, a, b, c, 132, 20, 12, false, true, true),
            Is.EqualTo(Run(original, a, b, c, 132, 20, 12, false, true, true)));
    }

    static (bool A, bool B) WordCopies(int m, int n, int k, bool transA, bool transB, int offsetA = 0)
    {
        var parts = wide.AllocateContiguous([offsetA, m * k]);
        using DeviceBuffer a = parts[1], b = wide.Allocate(k * n);
        try { return MatmulTf32AsyncGpu.WordCopies(((GpuBuffer)a).View, ((GpuBuffer)b).View, m, n, k, transA, transB); }
        finally { parts[0].Dispose(); }
    }

    [Test]
    public void TheAsyncShapesCoverBothCopies()
    {
        for (int layout = 0; layout < 4; layout++)
        {
            bool ta = (layout & 1) != 0, tb = (layout & 2) != 0;
            var copies = Pipeline.Select(s => WordCopies(s[0], s[1], s[2], ta, tb)).ToList();
            Assert.That(copies[0], Is.EqualTo((false, false)), $"132x20x52 tA={ta} tB={tb}: 16-byte chunks");
            Assert.That(copies.Any(c => c.A) && copies.Any(c => c.B), $"tA={ta} tB={tb}: each operand in words");
        }
        Assert.That(WordCopies(36, 12, 52, false, false, offsetA: 4), Is.EqualTo((false, false)),
            "a view 16 bytes in is aligned");
        Assert.That(WordCopies(36, 12, 52, false, false, offsetA: 1), Is.EqualTo((true, false)),
            "a view 4 bytes in is not");
    }

    [TestCase(10, 8, false, false, 52)]
    [TestCase(10, 8, true, true, 52)]
    [TestCase(11, 9, false, false, 52)]
    [TestCase(11, 9, true, true, 52)]
    [TestCase(10, 8, false, true, 51)]
    [TestCase(11, 9, true, false, 51)]
    public void AsyncPipelineChangesNoBitOfTheTwin(int version, int original, bool transA, bool transB, int k)
    {
        // v10/v11 sum in v8/v9's K order (a stage of 16 is two slices of 8, in order), so their twins agree bit for
        // bit. A·B loads A by ldmatrix and B by scalar loads, Aᵀ·Bᵀ the other way round: all four load forms. K = 52:
        // 4 K tiles through 3 stages, the last with one slice of 8 and half of it zeros. K = 51: A·Bᵀ copies both
        // operands in 4-byte words (K contiguous), Aᵀ·B neither (M = 36, N = 12 contiguous): the words' zero-fill
        // at K's edge against the chunks'.
        var words = WordCopies(36, 12, k, transA, transB);
        Assert.That(words, Is.EqualTo(k % 4 == 0 || transA ? (false, false) : (true, true)));
        var rng = new Random(version + (transA ? 2 : 0) + k);
        float[] a = GradCheck.Rand(rng, 36 * k), b = GradCheck.Rand(rng, k * 12), c = GradCheck.Rand(rng, 36 * 12);
        Assert.That(Run(version, a, b, c, 36, 12, k, transA, transB, true),
            Is.EqualTo(Run(original, a, b, c, 36, 12, k, transA, transB, true)));
    }

    [Test]
    public void TheAddressGivenToThePtxIsTheViewsFirstElement()
    {
        // cp.async and the PTX stores use DeviceAddress.Of, not the view; the twins ignore it. On the CPU accelerator
        // the address is a host pointer, so it can be read: an arena slice 1 and 5 floats in.
        var parts = wide.AllocateContiguous([1, 4, 3]);
        try
        {
            parts[1].CopyFrom([10f, 11f, 12f, 13f]);
            parts[2].CopyFrom([20f, 21f, 22f]);
            foreach (var (part, first) in new[] { (parts[1], 10f), (parts[2], 20f) })
            {
                long address = DeviceAddress.Of(((GpuBuffer)part).View);
                Assert.That(BitConverter.Int32BitsToSingle(System.Runtime.InteropServices.Marshal.ReadInt32(
                    new IntPtr(address))), Is.EqualTo(first));
            }
        }
        finally
        {
            foreach (var p in parts) p.Dispose();
        }
    }

    [Test]
    public void AMisalignedOperandIsCopiedInWords()
    {
        // An arena slice 4 bytes in: a 16-byte cp.async cannot read it, so v10 copies A in 4-byte words (v8's bits).
        var rng = new Random(5);
        float[] a = GradCheck.Rand(rng, 36 * 52), b = GradCheck.Rand(rng, 52 * 12), c = GradCheck.Rand(rng, 36 * 12);
        var parts = wide.AllocateContiguous([1, a.Length]);
        using DeviceBuffer da = parts[1], db = wide.Allocate(b.Length), dc = wide.Allocate(c.Length);
        try
        {
            Assert.That(MatmulTf32AsyncGpu.WordCopies(((GpuBuffer)da).View, ((GpuBuffer)db).View, 36, 12, 52, false,
                false), Is.EqualTo((true, false)));
            da.CopyFrom(a);
            db.CopyFrom(b);
            dc.CopyFrom(c);
            wide.Versions.Pin(MatmulOps.MatMul, 10);
            wide.MatMul(da, db, dc, 36, 12, 52, false, false, false);
        }
        finally
        {
            wide.Versions.Pin(MatmulOps.MatMul, 0);
            parts[0].Dispose();
        }
        Assert.That(dc.ToArray(), Is.EqualTo(Run(8, a, b, c, 36, 12, 52, false, false, false)));
    }

    [Test]
    public void TheDefaultFollowsPrecisionThenShape()
    {
        Assert.That(MatmulOps.Choose(Precision.Fp32, 4096, true, 1024), Is.EqualTo(3));
        Assert.That(MatmulOps.Choose(Precision.Fp32, MatmulOps.SkinnyRows, true, 1024), Is.EqualTo(4), "decode x·Wᵀ");
        Assert.That(MatmulOps.Choose(Precision.Fp32, MatmulOps.SkinnyRows, false, 1024), Is.EqualTo(3), "dy·W");
        Assert.That(MatmulOps.Choose(Precision.Fp32, MatmulOps.SkinnyRows + 1, true, 1024), Is.EqualTo(3));
        Assert.That(MatmulOps.Choose(Precision.Fp32, 1, true, 16), Is.EqualTo(2), "a narrow device keeps v2");
        Assert.That(MatmulOps.Choose(Precision.Tf32, 1, true, 1024), Is.EqualTo(8));
        Assert.That(MatmulOps.Choose(Precision.ThreeXTf32, 4096, false, 1024), Is.EqualTo(9));
    }

    [Test]
    public void PrecisionRoutesTheBackendToTheTensorCoreVersions()
    {
        var rng = new Random(3);
        float[] a = GradCheck.Rand(rng, 9 * 5), b = GradCheck.Rand(rng, 5 * 7), c = new float[9 * 7];
        try
        {
            wide.Precision = Precision.Tf32;
            float[] routed = Run(0, a, b, c, 9, 7, 5, false, false, false);
            wide.Precision = Precision.Fp32;
            Assert.That(routed, Is.EqualTo(Run(8, a, b, c, 9, 7, 5, false, false, false)), "tf32 runs v8");
            Assert.That(routed, Is.Not.EqualTo(Run(3, a, b, c, 9, 7, 5, false, false, false)), "and not fp32");
        }
        finally { wide.Precision = Precision.Fp32; }
    }

    [Test]
    public void TensorCoreVersionsRefuseANarrowDevice()
    {
        using var narrow = new GpuBackend("ilgpu-cpu");
        using DeviceBuffer a = narrow.Allocate(4), b = narrow.Allocate(4), c = narrow.Allocate(4);
        narrow.Precision = Precision.ThreeXTf32;
        Assert.That(() => narrow.MatMul(a, b, c, 2, 2, 2, false, false, false),
            Throws.TypeOf<NotSupportedException>().With.Message.Contains("warp size 32"));
    }
}
