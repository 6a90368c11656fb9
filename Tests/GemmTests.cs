using Engine.Kernels.Matmul;
using NUnit.Framework;

namespace Engine.Tests;

/// <summary>The packed, register-tiled GEMM against the triple-loop definition, all layouts, edge tiles included.</summary>
public class GemmTests
{
    static IEnumerable<TestCaseData> Shapes()
    {
        // (m, n, k): single elements, sizes off every tile (MR 12/6, NR 32/16, MC 96, KC 256),
        // and one big enough for the parallel path and several K blocks.
        int[][] shapes = [[1, 1, 1], [1, 37, 5], [7, 13, 5], [13, 33, 17], [97, 65, 257], [130, 200, 300], [3, 1000, 2]];
        foreach (var s in shapes)
            foreach (bool ta in new[] { false, true })
                foreach (bool tb in new[] { false, true })
                    yield return new TestCaseData(s[0], s[1], s[2], ta, tb).SetName($"Gemm_{s[0]}x{s[1]}x{s[2]}_tA{ta}_tB{tb}");
    }

    [TestCaseSource(nameof(Shapes))]
    public void MatchesReference(int m, int n, int k, bool transA, bool transB)
    {
        var rng = new Random(m * 131 + n * 17 + k);
        float[] a = GradCheck.Rand(rng, m * k), b = GradCheck.Rand(rng, k * n);
        float[] c0 = GradCheck.Rand(rng, m * n);
        foreach (bool accumulate in new[] { false, true })
        {
            float[] c = (float[])c0.Clone(), expected = (float[])c0.Clone();
            MatmulCpu.Gemm(a, b, c, m, n, k, transA, transB, accumulate);
            MatmulCpu.Reference(a, b, expected, m, n, k, transA, transB, accumulate);
            double worst = 0;
            for (int i = 0; i < c.Length; i++)
                worst = Math.Max(worst, Math.Abs(c[i] - expected[i]) / (1 + Math.Abs(expected[i])));
            // float32 sums of k products in a different order: error grows like √k · 6e-8.
            Assert.That(worst, Is.LessThan(1e-5 * Math.Sqrt(k) + 1e-6), $"accumulate={accumulate}: worst relative error {worst:E2}");
        }
    }

    [Test]
    public void EmptyInnerDimensionGivesZerosOrKeepsC()
    {
        float[] c = [1, 2, 3, 4];
        MatmulCpu.Gemm([], [], c, 2, 2, 0, false, false, accumulate: true);
        Assert.That(c, Is.EqualTo(new float[] { 1, 2, 3, 4 }));
        MatmulCpu.Gemm([], [], c, 2, 2, 0, false, false, accumulate: false);
        Assert.That(c, Is.EqualTo(new float[] { 0, 0, 0, 0 }));
    }
}
