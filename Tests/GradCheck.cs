using Engine.Autograd;
using Engine.Kernels;
using NUnit.Framework;

namespace Engine.Tests;

/// <summary>
/// Central-difference gradient check. For inputs x and an op f, with a fixed random projection R,
/// L(x) = Σ f(x)·R; the analytic ∂L/∂x from Backward is compared with (L(x+ε) − L(x−ε)) / 2ε
/// element by element. L is summed in float64 on the host so the check sees the op's error, not the sum's.
/// </summary>
static class GradCheck
{
    public static readonly CpuBackend Cpu = new();

    public static Tensor Param(Random rng, params int[] shape) => Tensor.Parameter(Cpu, Rand(rng, Count(shape)), shape);

    public static Tensor Const(Random rng, params int[] shape) => Tensor.FromArray(Cpu, Rand(rng, Count(shape)), shape);

    public static float[] Rand(Random rng, int n, float scale = 1f)
    {
        var x = new float[n];
        for (int i = 0; i < n; i++) x[i] = (float)(rng.NextDouble() * 2 - 1) * scale;
        return x;
    }

    static int Count(int[] shape) => shape.Aggregate(1, (a, b) => a * b);

    /// <summary>Checks ∂/∂x for every input that requires grad; fails with the worst relative error.</summary>
    public static void Check(string name, Func<Tensor> f, Tensor[] inputs, double eps = 1e-2, double tol = 2e-2, int seed = 7)
    {
        var rng = new Random(seed);
        var probe = f();
        var r = Rand(rng, probe.Size);
        var rT = Tensor.FromArray(Cpu, r, probe.Shape);

        foreach (var x in inputs) x.ZeroGrad();
        var loss = Ops.Sum(Ops.Mul(f(), rT));
        loss.Backward();

        double Value()
        {
            using var _ = GradMode.Disable();
            var y = f().ToArray();
            double s = 0;
            for (int i = 0; i < y.Length; i++) s += (double)y[i] * r[i];
            return s;
        }

        for (int which = 0; which < inputs.Length; which++)
        {
            var x = inputs[which];
            if (!x.RequiresGrad) continue;
            Assert.That(x.Grad, Is.Not.Null, $"{name}: input {which} got no gradient");
            var analytic = x.Grad!.ToArray();
            var data = ((CpuBuffer)x.Data).Data;
            double diffSq = 0, aSq = 0, nSq = 0, worst = 0;
            int worstAt = -1;
            // Every element for small inputs; an even sample of 97 for larger ones.
            int stride = Math.Max(1, data.Length / 97);
            for (int i = 0; i < data.Length; i += stride)
            {
                float keep = data[i];
                data[i] = keep + (float)eps; double plus = Value();
                data[i] = keep - (float)eps; double minus = Value();
                data[i] = keep;
                double numeric = (plus - minus) / (2 * eps);
                double a = analytic[i];
                diffSq += (a - numeric) * (a - numeric);
                aSq += a * a; nSq += numeric * numeric;
                double rel = Math.Abs(a - numeric) / Math.Max(1e-3, Math.Max(Math.Abs(a), Math.Abs(numeric)));
                if (rel > worst) { worst = rel; worstAt = i; }
            }
            double relNorm = Math.Sqrt(diffSq) / Math.Max(1e-12, Math.Max(Math.Sqrt(aSq), Math.Sqrt(nSq)));
            Assert.That(relNorm, Is.LessThan(tol),
                $"{name}: d/d(input {which}, shape {ShapeException.Format(x.Shape)}): relative error {relNorm:E2} (norm-wise); " +
                $"worst element [{worstAt}] rel {worst:E2}");
            Assert.That(aSq, Is.GreaterThan(0), $"{name}: gradient of input {which} is all zeros — the check would be vacuous");
        }
    }
}
