using Engine.Autograd;
using Engine.Training;
using NUnit.Framework;
using static Engine.Tests.GradCheck;

namespace Engine.Tests;

public class TrainingTests
{
    /// <summary>A two-layer MLP fit with AdamW on y = sin(2x₁) + x₂² must cut its loss at least tenfold.</summary>
    [Test]
    public void TwoLayerMlpRegressionLossDropsTenfold()
    {
        var rng = new Random(42);
        int n = 128, hidden = 32;
        float[] xs = Rand(rng, n * 2), ys = new float[n];
        for (int i = 0; i < n; i++) ys[i] = MathF.Sin(2 * xs[2 * i]) + xs[2 * i + 1] * xs[2 * i + 1];
        var x = Tensor.FromArray(Cpu, xs, n, 2);
        var y = Tensor.FromArray(Cpu, ys, n, 1);
        var w1 = Tensor.Parameter(Cpu, Rand(rng, hidden * 2, 0.7f), hidden, 2);
        var b1 = Tensor.Parameter(Cpu, new float[hidden], hidden);
        var w2 = Tensor.Parameter(Cpu, Rand(rng, hidden, 0.17f), 1, hidden);
        var b2 = Tensor.Parameter(Cpu, new float[1], 1);
        var opt = new AdamW([w1, w2], [b1, b2]) { WeightDecay = 0f };

        float Loss()
        {
            var pred = Ops.Linear(Ops.Gelu(Ops.Linear(x, w1, b1)), w2, b2);
            var err = Ops.Add(pred, Ops.Scale(y, -1f));
            var loss = Ops.Mean(Ops.Mul(err, err));
            opt.ZeroGrad();
            loss.Backward();
            return loss.Item();
        }

        float first = Loss();
        float last = first;
        for (int step = 0; step < 400; step++)
        {
            GradClip.ClipGlobalNorm(opt.Parameters, 1f);
            opt.Update(lr: 0.01f);
            last = Loss();
        }
        TestContext.Out.WriteLine($"MLP loss {first:F4} -> {last:F5} ({first / last:F1}x)");
        Assert.That(last, Is.LessThan(first / 10), $"loss went {first} -> {last}");
    }
}
