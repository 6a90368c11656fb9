using Engine.Kernels;
using Engine.Kernels.RL;
using Engine.RL;
using NUnit.Framework;
using static Engine.Tests.GradCheck;

namespace Engine.Tests;

/// <summary>RL gradients against central differences, the fused kernel against the unfused path, and every RL kernel on ILGPU's CPU accelerator against the CPU reference.</summary>
[NonParallelizable]
public class RlKernelTests
{
    static GpuBackend gpu = null!;
    [OneTimeSetUp] public void Open() => gpu = new GpuBackend("ilgpu-cpu");
    [OneTimeTearDown] public void Close() => gpu.Dispose();

    static double Central(Func<double> f, Action<float> set, float x0, double eps)
    {
        set(x0 + (float)eps); double plus = f();
        set(x0 - (float)eps); double minus = f();
        set(x0);
        return (plus - minus) / (2 * eps);
    }

    static void Close(string what, float[] analytic, double[] numeric, double tol)
    {
        for (int i = 0; i < analytic.Length; i++)
            Assert.That(analytic[i], Is.EqualTo(numeric[i]).Within(tol * Math.Max(1, Math.Abs(numeric[i]))), $"{what}[{i}]");
    }

    [TestCase(LossAggregation.TokenMean)]
    [TestCase(LossAggregation.SeqMeanTokenMean)]
    [TestCase(LossAggregation.SeqMeanTokenSum)]
    [TestCase(LossAggregation.SeqMeanTokenSumNorm)]
    public void PolicyLossGradientMatchesCentralDifferences(LossAggregation mode)
    {
        var rng = new Random(3);
        int batch = 3, steps = 5, n = 15;
        // Ratios spread over both sides of the clip range, away from its edges (kinks).
        float[] old = Rand(rng, n), adv = Rand(rng, n, 2f), mask = Enumerable.Range(0, n).Select(i => i % 5 == 4 ? 0f : 1f).ToArray();
        float[] logp = old.Select((o, i) => o + (float)((i % 3 - 1) * 0.5 + 0.05 * rng.NextDouble())).ToArray();
        var o = new PolicyLossOptions(ClipHigh: .28f, DualClip: 3f, Aggregation: mode, MaxResponseLength: 6);
        var res = RlMath.PolicyLoss(Cpu, logp, old, adv, mask, batch, steps, o);
        var numeric = new double[n];
        for (int i = 0; i < n; i++)
        {
            int j = i;
            numeric[i] = Central(() => RlMath.PolicyLoss(Cpu, logp, old, adv, mask, batch, steps, o).Loss, x => logp[j] = x, logp[j], 1e-3);
        }
        Close("dloss/dlogp", res.GradLogp, numeric, 2e-3);
        Assert.That(res.GradLogp.Count(g => g != 0), Is.GreaterThan(3), "some tokens must carry gradient");
    }

    [TestCase(KlEstimator.K1)]
    [TestCase(KlEstimator.K2)]
    [TestCase(KlEstimator.K3)]
    public void KlGradientMatchesCentralDifferences(KlEstimator kind)
    {
        var rng = new Random(4);
        float[] logp = Rand(rng, 9, 2f), refLogp = Rand(rng, 9, 2f);
        var (_, grad) = RlMath.KlWithGrad(Cpu, logp, refLogp, kind);
        var numeric = new double[9];
        for (int i = 0; i < 9; i++)
        {
            int j = i;
            numeric[i] = Central(() => RlMath.Kl(Cpu, logp, refLogp, kind)[j], x => logp[j] = x, logp[j], 1e-3);
        }
        Close($"d{kind}/dlogp", grad, numeric, 1e-3);
    }

    [Test]
    public void EntropyGradientMatchesCentralDifferences()
    {
        var rng = new Random(5);
        int rows = 3, vocab = 7;
        float[] logits = Rand(rng, rows * vocab, 2f), dh = Rand(rng, rows);
        var d = Cpu.Allocate(rows * vocab);
        var lg = Cpu.Allocate(rows * vocab); lg.CopyFrom(logits);
        var dhb = Cpu.Allocate(rows); dhb.CopyFrom(dh);
        Cpu.EntropyBackward(lg, dhb, d, rows, vocab, 0.7f);
        var numeric = new double[rows * vocab];
        double F() => RlMath.Entropy(Cpu, logits, rows, vocab, 0.7f).Select((h, r) => (double)h * dh[r]).Sum();
        for (int i = 0; i < logits.Length; i++)
        {
            int j = i;
            numeric[i] = Central(F, x => logits[j] = x, logits[j], 1e-3);
        }
        Close("dH/dlogits", d.ToArray(), numeric, 2e-3);
    }

    /// <summary>Inputs for the fused kernel: logits [N, V], ids, old logp near the current ones, advantages, mask.</summary>
    static (float[] Logits, int[] Ids, float[] Old, float[] Adv, float[] Mask, float[] Ref) FusedInputs(int batch, int steps, int vocab, int seed)
    {
        var rng = new Random(seed);
        int n = batch * steps;
        float[] logits = Rand(rng, n * vocab, 3f);
        int[] ids = Enumerable.Range(0, n).Select(_ => rng.Next(vocab)).ToArray();
        float[] old = new float[n], refLogp = new float[n];
        for (int i = 0; i < n; i++)
        {
            var row = logits.AsSpan(i * vocab, vocab).ToArray();
            double lse = Math.Log(row.Sum(x => Math.Exp(x / 0.9)));
            float lp = (float)(row[ids[i]] / 0.9 - lse);
            old[i] = lp + (float)((i % 3 - 1) * 0.4 + 0.05 * rng.NextDouble());
            refLogp[i] = lp + (float)(rng.NextDouble() - 0.5);
        }
        return (logits, ids, old, Rand(rng, n, 2f), Enumerable.Range(0, n).Select(i => i % steps == steps - 1 ? 0f : 1f).ToArray(), refLogp);
    }

    [Test]
    public void FusedDlogitsEqualTheUnfusedPath()
    {
        int batch = 2, steps = 4, vocab = 11, n = batch * steps;
        var (logits, ids, old, adv, mask, refLogp) = FusedInputs(batch, steps, vocab, 6);
        var o = new FusedLossOptions(Temperature: 0.9f, ClipHigh: .28f, DualClip: 3f, KlCoef: 0.1f, EntropyCoef: 0.01f, Aggregation: LossAggregation.SeqMeanTokenMean);
        var lb = Cpu.Allocate(n * vocab); lb.CopyFrom(logits);
        var d = Cpu.Allocate(n * vocab);
        var fused = FusedPolicy.Run(Cpu, lb, d, ids, old, adv, mask, refLogp, batch, steps, vocab, o);

        // Unfused: log-softmax → gather → clipped loss and k3 KL (their logp gradients) → chain rule
        // through the log-softmax; plus the entropy bonus through its own backward.
        var w = RlMath.AggregationWeights(mask, batch, steps, o.Aggregation);
        var logp = new float[n];
        var expected = new float[n * vocab];
        for (int i = 0; i < n; i++)
        {
            var row = logits.AsSpan(i * vocab, vocab).ToArray();
            double lse = Math.Log(row.Sum(x => Math.Exp(x / o.Temperature)));
            logp[i] = (float)(row[ids[i]] / o.Temperature - lse);
        }
        var pl = RlMath.PolicyLoss(Cpu, logp, old, adv, mask, batch, steps, new PolicyLossOptions(o.ClipLow, o.ClipHigh, o.DualClip, o.Aggregation));
        var (kl, klGrad) = RlMath.KlWithGrad(Cpu, logp, refLogp, KlEstimator.K3);
        for (int i = 0; i < n; i++)
        {
            double g = pl.GradLogp[i] + o.KlCoef * w[i] * klGrad[i];
            var row = logits.AsSpan(i * vocab, vocab).ToArray();
            double lse = Math.Log(row.Sum(x => Math.Exp(x / o.Temperature)));
            for (int c = 0; c < vocab; c++)
                expected[i * vocab + c] = (float)(g * ((c == ids[i] ? 1 : 0) - Math.Exp(row[c] / o.Temperature - lse)) / o.Temperature);
        }
        var e = Cpu.Allocate(n * vocab); e.CopyFrom(expected);
        var dh = Cpu.Allocate(n); dh.CopyFrom(w.Select(x => -o.EntropyCoef * x).ToArray());
        Cpu.EntropyBackward(lb, dh, e, n, vocab, o.Temperature);
        float[] got = d.ToArray(), want = e.ToArray();
        for (int i = 0; i < got.Length; i++) Assert.That(got[i], Is.EqualTo(want[i]).Within(1e-5f), $"dlogits[{i}]");
        Assert.That(fused.Logp, Is.EqualTo(logp).Within(1e-5f));
        double entropy = RlMath.Entropy(Cpu, logits, n, vocab, o.Temperature).Select((h, i) => h * w[i]).Sum();
        double klAgg = kl.Select((k, i) => k * w[i]).Sum();
        Assert.That(fused.Loss, Is.EqualTo(pl.Loss + o.KlCoef * klAgg - o.EntropyCoef * entropy).Within(1e-5));
        Assert.That(fused.ClipFraction, Is.EqualTo(pl.ClipFraction).Within(1e-6f));
    }

    [Test]
    public void FusedLossGradientMatchesCentralDifferences()
    {
        int batch = 1, steps = 3, vocab = 5, n = 3;
        var (logits, ids, old, adv, mask, refLogp) = FusedInputs(batch, steps, vocab, 7);
        var o = new FusedLossOptions(Temperature: 0.9f, KlCoef: 0.2f, EntropyCoef: 0.05f);
        double Loss()
        {
            var lb = Cpu.Allocate(n * vocab); lb.CopyFrom(logits);
            return FusedPolicy.Run(Cpu, lb, Cpu.Allocate(n * vocab), ids, old, adv, mask, refLogp, batch, steps, vocab, o).Loss;
        }
        var l0 = Cpu.Allocate(n * vocab); l0.CopyFrom(logits);
        var d = Cpu.Allocate(n * vocab);
        FusedPolicy.Run(Cpu, l0, d, ids, old, adv, mask, refLogp, batch, steps, vocab, o);
        var numeric = new double[n * vocab];
        for (int i = 0; i < numeric.Length; i++)
        {
            int j = i;
            numeric[i] = Central(Loss, x => logits[j] = x, logits[j], 1e-3);
        }
        Close("dloss/dlogits", d.ToArray(), numeric, 3e-3);
    }

    // ---- every RL kernel on ILGPU's CPU accelerator equals the CPU reference ----

    static (DeviceBuffer C, DeviceBuffer G) Pair(float[] x)
    {
        var c = Cpu.Allocate(x.Length); c.CopyFrom(x);
        var g = gpu.Allocate(x.Length); g.CopyFrom(x);
        return (c, g);
    }

    static void Same(string what, (DeviceBuffer C, DeviceBuffer G) p) => Same(what, p.C.ToArray(), p.G.ToArray());

    static void Same(string what, float[] e, float[] a)
    {
        double worst = 0;
        for (int i = 0; i < e.Length; i++) worst = Math.Max(worst, Math.Abs(a[i] - e[i]) / Math.Max(1, Math.Abs(e[i])));
        TestContext.Out.WriteLine($"{what}: worst relative error {worst:E2}");
        Assert.That(worst, Is.LessThanOrEqualTo(1e-4), what);
    }

    [TestCase(1, 1)]
    [TestCase(5, 37)]
    public void RlKernelsMatchTheReference(int batch, int steps)
    {
        var rng = new Random(batch * 100 + steps);
        int n = batch * steps;
        var r = Pair(Rand(rng, n)); var v = Pair(Rand(rng, n));
        var m = Pair(Enumerable.Range(0, n).Select(_ => rng.NextDouble() < 0.8 ? 1f : 0f).Append(1f).Take(n).ToArray());
        var adv = Pair(new float[n]); var ret = Pair(new float[n]);
        Cpu.Gae(r.C, v.C, m.C, adv.C, ret.C, batch, steps, 0.99f, 0.95f);
        gpu.Gae(r.G, v.G, m.G, adv.G, ret.G, batch, steps, 0.99f, 0.95f);
        Same("gae advantages", adv); Same("gae returns", ret);
        if (m.C.ToArray().Sum() >= 2)
        {
            Cpu.MaskedWhiten(adv.C, m.C); gpu.MaskedWhiten(adv.G, m.G);
            Same("whiten", adv);
        }

        var scores = Pair(Rand(rng, 12, 3f)); var ga = Pair(new float[12]);
        foreach (var kind in Enum.GetValues<GroupKind>())
            foreach (int g in new[] { 1, 3, 4 })
            {
                Cpu.GroupAdvantages(scores.C, ga.C, g, kind, 1e-6f); gpu.GroupAdvantages(scores.G, ga.G, g, kind, 1e-6f);
                Same($"group {kind} G={g}", ga);
            }

        var logp = Pair(Rand(rng, n, 2f)); var old = Pair(Rand(rng, n, 2f)); var a = Pair(Rand(rng, n, 2f));
        var loss = Pair(new float[n]); var grad = Pair(new float[n]); var clip = Pair(new float[n]); var akl = Pair(new float[n]);
        Cpu.ClippedSurrogate(logp.C, old.C, a.C, loss.C, grad.C, clip.C, akl.C, .2f, .28f, 3f);
        gpu.ClippedSurrogate(logp.G, old.G, a.G, loss.G, grad.G, clip.G, akl.G, .2f, .28f, 3f);
        Same("surrogate loss", loss); Same("surrogate grad", grad); Same("surrogate clipped", clip); Same("surrogate approx-kl", akl);
        foreach (var kind in Enum.GetValues<KlKind>())
        {
            Cpu.Kl(logp.C, old.C, loss.C, grad.C, kind); gpu.Kl(logp.G, old.G, loss.G, grad.G, kind);
            Same($"kl {kind}", loss); Same($"kl {kind} grad", grad);
        }
    }

    [TestCase(1, 1, 5)]
    [TestCase(2, 3, 37)]
    [TestCase(1, 2, 1000)]
    public void EntropyAndFusedKernelsMatchTheReference(int batch, int steps, int vocab)
    {
        int n = batch * steps;
        var (logits, ids, old, adv, mask, refLogp) = FusedInputs(batch, steps, vocab, vocab);
        var lg = Pair(logits);
        var h = Pair(new float[n]);
        Cpu.Entropy(lg.C, h.C, n, vocab, 0.9f); gpu.Entropy(lg.G, h.G, n, vocab, 0.9f);
        Same("entropy", h);
        var dh = Pair(Rand(new Random(1), n)); var d = Pair(new float[n * vocab]);
        Cpu.EntropyBackward(lg.C, dh.C, d.C, n, vocab, 0.9f); gpu.EntropyBackward(lg.G, dh.G, d.G, n, vocab, 0.9f);
        Same("entropy backward", d);
        var o = new FusedLossOptions(Temperature: 0.9f, ClipHigh: .28f, DualClip: 3f, KlCoef: 0.1f, EntropyCoef: 0.01f);
        var dc = Cpu.Allocate(n * vocab); var dg = gpu.Allocate(n * vocab);
        var rc = FusedPolicy.Run(Cpu, lg.C, dc, ids, old, adv, mask, refLogp, batch, steps, vocab, o);
        var rg = FusedPolicy.Run(gpu, lg.G, dg, ids, old, adv, mask, refLogp, batch, steps, vocab, o);
        Same("fused dlogits", dc.ToArray(), dg.ToArray());
        Same("fused logp", rc.Logp, rg.Logp);
        Same("fused loss", [rc.Loss, rc.Kl, rc.Entropy, rc.ClipFraction, rc.ApproxKl], [rg.Loss, rg.Kl, rg.Entropy, rg.ClipFraction, rg.ApproxKl]);
        // In place, as the trainers call it: dlogits over the logits buffer.
        var inPlace = Pair(logits);
        FusedPolicy.Run(gpu, inPlace.G, inPlace.G, ids, old, adv, mask, refLogp, batch, steps, vocab, o);
        Same("fused in place", dc.ToArray(), inPlace.G.ToArray());
    }
}
