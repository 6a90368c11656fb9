using Engine.Kernels.Matmul;

namespace Bench;

/// <summary>
/// The error the GEMM goals are stated in: against the exact product in float64 (not the fp32 CPU GEMM the table's
/// max_rel_err uses), on 512 sampled outputs of C, as max |c − exact| / max(1, |exact|). Used by
/// `kernels --gemm-shapes` for every version and for cuBLAS on the same inputs.
/// </summary>
static class GemmError
{
    const int Samples = 512;

    public static double Float64(MatmulOps.Gemm g, float[][] inputs, float[] c)
    {
        float[] a = inputs[0], b = inputs[1], c0 = inputs[2];
        var rng = new Random(12);
        double worst = 0;
        for (int s = 0; s < Samples; s++)
        {
            int i = rng.Next(g.M), j = rng.Next(g.N);
            double exact = g.Accumulate ? c0[(long)i * g.N + j] : 0;
            for (int p = 0; p < g.K; p++)
            {
                double x = g.TransA ? a[(long)p * g.M + i] : a[(long)i * g.K + p];
                double y = g.TransB ? b[(long)j * g.K + p] : b[(long)p * g.N + j];
                exact += x * y;
            }
            double d = Math.Abs(c[(long)i * g.N + j] - exact) / Math.Max(1, Math.Abs(exact));
            worst = double.IsNaN(d) ? double.PositiveInfinity : Math.Max(worst, d);
        }
        return worst;
    }
}
