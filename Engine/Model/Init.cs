using Engine.Autograd;
using Engine.Kernels;

namespace Engine.Model;

/// <summary>Seeded parameter initialisation, GPT-2's: normal(0, 0.02) for weights, zeros for biases, ones for norm gains.</summary>
public sealed class Init(IBackend backend, int seed)
{
    readonly Random rng = new(seed);
    public IBackend Backend => backend;

    public Tensor Normal(float std, params int[] shape)
    {
        int n = shape.Aggregate(1, (a, b) => a * b);
        var x = new float[n];
        for (int i = 0; i < n; i++)
        {
            // Box–Muller from the seeded generator: the same seed gives the same weights everywhere.
            double u1 = 1.0 - rng.NextDouble(), u2 = rng.NextDouble();
            x[i] = (float)(std * Math.Sqrt(-2 * Math.Log(u1)) * Math.Cos(2 * Math.PI * u2));
        }
        return Tensor.Parameter(backend, x, shape);
    }

    public Tensor Zeros(params int[] shape) => Tensor.Parameter(backend, new float[shape.Aggregate(1, (a, b) => a * b)], shape);

    public Tensor Ones(params int[] shape) => Tensor.Parameter(backend,
        Enumerable.Repeat(1f, shape.Aggregate(1, (a, b) => a * b)).ToArray(), shape);
}
