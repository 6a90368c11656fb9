using Engine.Kernels;
using Engine.Kernels.Gpu;
using ILGPU;
using ILGPU.Runtime;
using NUnit.Framework;

namespace Engine.Tests;

/// <summary>
/// The software twins of the tensor-core PTX (Kernels/Gpu/TensorCore.cs): TF32 rounding against hand-worked bit
/// patterns (ties away from zero, carries, Inf), the hi/lo split, and the m16n8k8 MMA twin on the 32-wide CPU
/// accelerator against a direct fp32 product of the same TF32 inputs summed in k order.
/// </summary>
[NonParallelizable]
public class TensorCoreTests
{
    static float F(uint bits) => BitConverter.UInt32BitsToSingle(bits);
    static uint U(float x) => BitConverter.SingleToUInt32Bits(x);

    // (input bits, expected bits). TF32 keeps 10 mantissa bits: the last kept bit is 0x2000, half of it 0x1000.
    [TestCase(0x3F800000u, 0x3F800000u, TestName = "Tf32_One_IsExact")]
    [TestCase(0x3F801000u, 0x3F802000u, TestName = "Tf32_Tie_GoesAwayFromZero_NotToEven")]
    [TestCase(0xBF801000u, 0xBF802000u, TestName = "Tf32_NegativeTie_GoesAwayFromZero")]
    [TestCase(0x3F800FFFu, 0x3F800000u, TestName = "Tf32_BelowHalf_RoundsDown")]
    [TestCase(0x3F801001u, 0x3F802000u, TestName = "Tf32_AboveHalf_RoundsUp")]
    [TestCase(0x3F803000u, 0x3F804000u, TestName = "Tf32_TieWithOddKeptBit_RoundsUp")]
    [TestCase(0x3FFFF000u, 0x40000000u, TestName = "Tf32_CarryIntoTheExponent")]
    [TestCase(0x00001000u, 0x00002000u, TestName = "Tf32_SubnormalTie")]
    [TestCase(0x7F7FFFFFu, 0x7F800000u, TestName = "Tf32_MaxFloat_OverflowsToInfinity")]
    [TestCase(0xFF800000u, 0xFF800000u, TestName = "Tf32_NegativeInfinity_Unchanged")]
    [TestCase(0x7FC01234u, 0x7FC00000u, TestName = "Tf32_NaN_PayloadTruncated")]
    [TestCase(0x7F800001u, 0x7F800000u, TestName = "Tf32_NaN_WithOnlyDroppedPayload_BecomesInfinity_AsTheSassDoes")]
    public void RoundTf32MatchesHandWorkedBits(uint input, uint expected) =>
        Assert.That(U(TensorCore.RoundTf32(F(input))), Is.EqualTo(expected), $"{F(input):R}");

    [Test]
    public void RoundTf32KeepsNaN() => Assert.That(float.IsNaN(TensorCore.RoundTf32(float.NaN)));

    [Test]
    public void SplitIsTwoTf32PartsThatSumToXWithinTwoToTheMinus21()
    {
        // 1 + 2^-11 + 2^-20: hi = 1 + 2^-10 (the tie goes up), lo = -2^-11 + 2^-20, exact in TF32, so hi + lo = x.
        TensorCore.Split(F(0x3F801008u), out float hi0, out float lo0);
        Assert.That(U(hi0), Is.EqualTo(0x3F802000u));
        Assert.That((double)hi0 + lo0, Is.EqualTo((double)F(0x3F801008u)));
        var rng = new Random(12);
        for (int i = 0; i < 10000; i++)
        {
            float x = (float)((rng.NextDouble() * 2 - 1) * Math.Pow(2, rng.Next(-20, 20)));
            TensorCore.Split(x, out float hi, out float lo);
            Assert.That(U(hi) & 0x1FFFu, Is.Zero, "hi is TF32");
            Assert.That(U(lo) & 0x1FFFu, Is.Zero, "lo is TF32");
            Assert.That(Math.Abs((double)hi + lo - x), Is.LessThanOrEqualTo(Math.Abs(x) * Math.Pow(2, -21)),
                $"x = {x:R}");
        }
    }

    // One warp: lane loads its fragments of A (16×8, row-major), B (8×8, row-major K × N) and C (16×8) in the PTX
    // layout, runs one MMA and stores its D fragment back where C came from.
    static void MmaKernel(ArrayView<float> a, ArrayView<float> b, ArrayView<float> c)
    {
        int lane = Group.IdxX, g = lane >> 2, t = lane & 3;
        var fa = new FragA
            { A0 = a[g * 8 + t], A1 = a[(g + 8) * 8 + t], A2 = a[g * 8 + t + 4], A3 = a[(g + 8) * 8 + t + 4] };
        var fb = new FragB { B0 = b[t * 8 + g], B1 = b[(t + 4) * 8 + g] };
        var fc = new FragC { C0 = c[g * 8 + 2 * t], C1 = c[g * 8 + 2 * t + 1], C2 = c[(g + 8) * 8 + 2 * t],
            C3 = c[(g + 8) * 8 + 2 * t + 1] };
        TensorCore.Mma(fa, fb, ref fc);
        c[g * 8 + 2 * t] = fc.C0;
        c[g * 8 + 2 * t + 1] = fc.C1;
        c[(g + 8) * 8 + 2 * t] = fc.C2;
        c[(g + 8) * 8 + 2 * t + 1] = fc.C3;
    }

    [Test]
    public void MmaTwinEqualsTheDirectProductOfTf32Inputs()
    {
        var gpu = TestDevices.Wide;
        Assert.That(gpu.Accelerator.WarpSize, Is.EqualTo(32));
        var rng = new Random(7);
        float[] a = GradCheck.Rand(rng, 16 * 8).Select(TensorCore.RoundTf32).ToArray();
        float[] b = GradCheck.Rand(rng, 8 * 8).Select(TensorCore.RoundTf32).ToArray();
        float[] c = GradCheck.Rand(rng, 16 * 8);
        var expected = new float[16 * 8];
        for (int r = 0; r < 16; r++)
            for (int col = 0; col < 8; col++)
            {
                float s = c[r * 8 + col];
                for (int k = 0; k < 8; k++) s += a[r * 8 + k] * b[k * 8 + col];   // TF32 products are exact in fp32
                expected[r * 8 + col] = s;
            }
        using DeviceBuffer da = gpu.Allocate(a.Length), db = gpu.Allocate(b.Length), dc = gpu.Allocate(c.Length);
        da.CopyFrom(a);
        db.CopyFrom(b);
        dc.CopyFrom(c);
        gpu.Launch.Grouped<ArrayView<float>, ArrayView<float>, ArrayView<float>>(MmaKernel)(
            new KernelConfig(1, 32), ((GpuBuffer)da).View, ((GpuBuffer)db).View, ((GpuBuffer)dc).View);
        Assert.That(dc.ToArray(), Is.EqualTo(expected));
    }

    [Test]
    public void TensorCoreKernelsRefuseANarrowWarp() =>
        Assert.That(() => TensorCore.RequireWarp32(4, "matmul v6"),
            Throws.TypeOf<NotSupportedException>().With.Message.Contains("ilgpu-cpu32"));
}
