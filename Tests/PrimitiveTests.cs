using Engine.Autograd;
using Engine.Kernels;
using Engine.Training;
using NUnit.Framework;
using static Engine.Tests.GradCheck;

namespace Engine.Tests;

/// <summary>Forward values against independent computations, and the optimiser's arithmetic.</summary>
public class PrimitiveTests
{
    [Test]
    public void GeluMatchesTheTanhFormula()
    {
        // gelu(1) = ½(1 + tanh(√(2/π)·1.044715)) = 0.841192; gelu(−2) = −0.045402 (PyTorch approximate='tanh').
        var y = Ops.Gelu(Tensor.FromArray(Cpu, [0f, 1f, -2f], 3)).ToArray();
        Assert.That(y, Is.EqualTo(new[] { 0f, 0.841192f, -0.045402f }).Within(1e-5f));
    }

    [Test]
    public void CrossEntropyMatchesLogSoftmaxAndSkipsIgnoredRows()
    {
        var rng = new Random(3);
        float[] logits = Rand(rng, 4 * 6, 4f);
        int[] targets = [2, -1, 5, 0];
        double expected = 0;
        foreach (int r in new[] { 0, 2, 3 })
        {
            double lse = Math.Log(Enumerable.Range(0, 6).Sum(c => Math.Exp(logits[r * 6 + c])));
            expected += lse - logits[r * 6 + targets[r]];
        }
        expected /= 3;
        var be = Cpu;
        var buf = be.Allocate(logits.Length);
        buf.CopyFrom(logits);
        float loss = be.CrossEntropy(buf, targets, buf, 4, 6);   // dlogits written over the logits
        Assert.That(loss, Is.EqualTo(expected).Within(1e-5));
        var g = buf.ToArray();
        for (int c = 0; c < 6; c++) Assert.That(g[6 + c], Is.EqualTo(0f), "ignored row must get zero gradient");
        for (int r = 0; r < 4; r++) Assert.That(g.Skip(r * 6).Take(6).Sum(), Is.EqualTo(0f).Within(1e-6f), "softmax − onehot sums to zero");
    }

    [Test]
    public void AttentionIsCausalAndGroupedQueryEqualsRepeatedHeads()
    {
        var rng = new Random(4);
        int B = 1, T = 5, D = 4;
        float[] q = Rand(rng, B * T * 4 * D), k = Rand(rng, B * T * 2 * D), v = Rand(rng, B * T * 2 * D);
        var gqa = Ops.Attention(Tensor.FromArray(Cpu, q, B, T, 4 * D), Tensor.FromArray(Cpu, k, B, T, 2 * D), Tensor.FromArray(Cpu, v, B, T, 2 * D), 4, 2).ToArray();
        // Repeat each kv head for its two query heads: plain multi-head attention must agree.
        float[] Repeat(float[] x)
        {
            var y = new float[B * T * 4 * D];
            for (int t = 0; t < T; t++) for (int h = 0; h < 4; h++) for (int d = 0; d < D; d++) y[(t * 4 + h) * D + d] = x[(t * 2 + h / 2) * D + d];
            return y;
        }
        var mha = Ops.Attention(Tensor.FromArray(Cpu, q, B, T, 4 * D), Tensor.FromArray(Cpu, Repeat(k), B, T, 4 * D), Tensor.FromArray(Cpu, Repeat(v), B, T, 4 * D), 4, 4).ToArray();
        Assert.That(gqa, Is.EqualTo(mha).Within(1e-6f));

        // Causality: changing the last step's k and v leaves every earlier output unchanged.
        for (int i = (T - 1) * 2 * D; i < T * 2 * D; i++) { k[i] += 1f; v[i] -= 1f; }
        var changed = Ops.Attention(Tensor.FromArray(Cpu, q, B, T, 4 * D), Tensor.FromArray(Cpu, k, B, T, 2 * D), Tensor.FromArray(Cpu, v, B, T, 2 * D), 4, 2).ToArray();
        Assert.That(changed.Take((T - 1) * 4 * D), Is.EqualTo(gqa.Take((T - 1) * 4 * D)));
        Assert.That(changed.Skip((T - 1) * 4 * D), Is.Not.EqualTo(gqa.Skip((T - 1) * 4 * D)));
    }

    [Test]
    public void RopeIsIdentityAtPositionZeroAndPreservesNorms()
    {
        var rng = new Random(5);
        float[] x = Rand(rng, 1 * 3 * 8);
        var y = Ops.Rope(Tensor.FromArray(Cpu, x, 1, 3, 8), heads: 1).ToArray();
        Assert.That(y.Take(8), Is.EqualTo(x.Take(8)).Within(1e-7f));
        for (int t = 0; t < 3; t++)
            for (int i = 0; i < 4; i++)
            {
                double n0 = x[t * 8 + i] * x[t * 8 + i] + x[t * 8 + i + 4] * x[t * 8 + i + 4];
                double n1 = y[t * 8 + i] * y[t * 8 + i] + y[t * 8 + i + 4] * y[t * 8 + i + 4];
                Assert.That(n1, Is.EqualTo(n0).Within(1e-5));
            }
        // Position 1, pair 0 rotates by exactly 1 radian (θ^0 = 1).
        float x1 = x[8], x2 = x[12];
        Assert.That(y[8], Is.EqualTo(x1 * MathF.Cos(1) - x2 * MathF.Sin(1)).Within(1e-6f));
    }

    [Test]
    public void AdamWMatchesAHandWrittenReference()
    {
        var rng = new Random(6);
        float[] p0 = Rand(rng, 9);
        var p = Tensor.Parameter(Cpu, p0, 9);
        var opt = new AdamW([p]) { WeightDecay = 0.1f };
        double[] pr = p0.Select(x => (double)x).ToArray(), m = new double[9], v = new double[9];
        for (int step = 1; step <= 3; step++)
        {
            float[] g = Rand(rng, 9);
            p.ZeroGrad();
            Ops.Sum(Ops.Mul(p, Tensor.FromArray(Cpu, g, 9))).Backward();   // grad = g
            opt.Update(lr: 0.01f);
            for (int i = 0; i < 9; i++)
            {
                m[i] = 0.9 * m[i] + 0.1 * g[i];
                v[i] = 0.999 * v[i] + 0.001 * g[i] * g[i];
                double mh = m[i] / (1 - Math.Pow(0.9, step)), vh = v[i] / (1 - Math.Pow(0.999, step));
                pr[i] -= 0.01 * (mh / (Math.Sqrt(vh) + 1e-8) + 0.1 * pr[i]);
            }
        }
        Assert.That(p.ToArray(), Is.EqualTo(pr.Select(x => (float)x).ToArray()).Within(1e-5f));
    }

    [Test]
    public void GlobalNormClippingScalesAllGradientsTogether()
    {
        var a = Tensor.Parameter(Cpu, [0f, 0f], 2);
        var b = Tensor.Parameter(Cpu, [0f], 1);
        Ops.Add(Ops.Sum(Ops.Mul(a, Tensor.FromArray(Cpu, [3f, 0f], 2))), Ops.Sum(Ops.Scale(b, 4f))).Backward();   // grads (3, 0), (4): norm 5
        float norm = GradClip.ClipGlobalNorm([a, b], maxNorm: 1f);
        Assert.That(norm, Is.EqualTo(5f).Within(1e-6f));
        Assert.That(a.Grad!.ToArray(), Is.EqualTo(new[] { 0.6f, 0f }).Within(1e-5f));
        Assert.That(b.Grad!.ToArray(), Is.EqualTo(new[] { 0.8f }).Within(1e-5f));
        Assert.That(GradClip.ClipGlobalNorm([a, b], maxNorm: 10f), Is.EqualTo(1f).Within(1e-5f), "below the limit nothing changes");
    }

    [Test]
    public void GlobalNormClippingReadsTheDeviceOnceForAllTensors()
    {
        var timing = new TimingBackend(new CpuBackend());
        var rng = new Random(3);
        var ps = Enumerable.Range(1, 7).Select(n => Tensor.Parameter(timing, Rand(rng, n * 3), n * 3)).ToList();
        Ops.Sum(ps.Select(p => Ops.Sum(Ops.Mul(p, p))).Aggregate(Ops.Add)).Backward();     // grads 2p
        double expected = Math.Sqrt(ps.Sum(p => p.ToArray().Sum(x => 4.0 * x * x)));
        timing.Reset();
        float norm = GradClip.ClipGlobalNorm(ps, maxNorm: 0f);
        Assert.That(norm, Is.EqualTo(expected).Within(1e-5 * expected));
        var calls = timing.Report().ToDictionary(r => r.Op, r => r.Calls);
        Assert.That(calls[nameof(IBackend.SumOfSquaresInto)], Is.EqualTo(ps.Count));
    }

    [Test]
    public void LayerNormRowsHaveZeroMeanUnitVariance()
    {
        var rng = new Random(7);
        var x = Tensor.FromArray(Cpu, Rand(rng, 3 * 17, 5f), 3, 17);
        var y = Ops.LayerNorm(x, Tensor.FromArray(Cpu, Enumerable.Repeat(1f, 17).ToArray(), 17), Tensor.Zeros(Cpu, 17)).ToArray();
        for (int r = 0; r < 3; r++)
        {
            var row = y.Skip(r * 17).Take(17).ToArray();
            Assert.That(row.Average(), Is.EqualTo(0).Within(1e-5));
            Assert.That(row.Select(z => z * z).Average(), Is.EqualTo(1).Within(1e-3));
        }
    }
}
