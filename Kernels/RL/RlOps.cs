using ILGPU;
using Engine.Kernels.Gpu;
using Engine.Kernels.Workbench;
using static Engine.Kernels.Workbench.CaseData;

namespace Engine.Kernels.RL;

/// <summary>The RL math kernels (RlGpu.cs): GAE, whitening, group advantages, the clipped surrogate, KL, entropy and
/// the fused loss.</summary>
public static class RlOps
{
    /// <summary>How the GPU backend calls a GAE version: rewards, values, mask, advantages, returns all [B, T].</summary>
    public delegate void GaeLaunch(LaunchContext kernels, ArrayView<float> rewards, ArrayView<float> values, ArrayView<float> mask,
        ArrayView<float> advantages, ArrayView<float> returns, int batch, int steps, float gamma, float lambda);

    /// <summary>GAE versions, in order.</summary>
    public static readonly (KernelVersion Version, GaeLaunch Run)[] GaeGpu =
    [
        (new(1, "sequential", "one thread per sequence, the reference's reverse walk (RlGpu.cs)"), RlGpu.Gae),
        (new(2, "chunked-scan", "one group per sequence: per-chunk affine maps, carries, a final walk (GaeScanGpu.cs)"),
            GaeScanGpu.Run),
    ];

    public static readonly OpDeclaration Gae = new("gae", nameof(IBackend.Gae), GaeGpu.Select(v => v.Version).ToArray(), Default: 1,
        GaeCases);

    static IEnumerable<OpCase> GaeCases(Sizes s, Random r)
    {
        // Long sequences too: the scan's chunks only matter when T spans several of them.
        foreach (var (batch, steps) in new[] { (s.Batch, s.Steps), (s.Batch, Math.Max(1, s.Cols * 3)) }.Distinct())
        {
            int n = batch * steps;
            var mask = Mask(r, n);
            for (int b = 0; b < batch && steps > 4; b++)                     // masked stretches inside and at the end
                for (int t = steps - 3; t < steps; t++) mask[b * steps + t] = 0f;
            yield return Case("gae", nameof(IBackend.Gae), $"{batch}x{steps}", Bytes(5, n),
                [Uniform(r, n), Uniform(r, n), mask, new float[n], new float[n]], [3, 4],
                (be, x) => be.Gae(x[0], x[1], x[2], x[3], x[4], batch, steps, 0.99f, 0.95f));
        }
    }

    static OpCase Case(string op, string primitive, string shape, double bytes, float[][] inputs, int[] outputs,
        Action<IBackend, DeviceBuffer[]> run) => new(op, primitive, shape, bytes, WorkUnit.Bytes, inputs, outputs, run);

    /// <summary>Log-probabilities: negative, as sampled tokens' are.</summary>
    static float[] Logp(Random r, int n) => Positive(r, n, -4f, -0.05f);

    public static readonly OpDeclaration[] All =
    [
        Gae,
        OpDeclaration.Single("masked-whiten", nameof(IBackend.MaskedWhiten), "fixed-order reductions, then a grid-stride loop (RlGpu.cs)",
            (s, r) =>
        {
            int n = Math.Max(2, s.Elements);
            var mask = Mask(r, n);
            mask[n - 1] = 1f;                                                 // at least two entries: the variance is defined
            return [Case("masked-whiten", nameof(IBackend.MaskedWhiten), $"{n}", Bytes(3, n), [Uniform(r, n), mask], [0],
                (be, x) => be.MaskedWhiten(x[0], x[1]))];
        }),
        OpDeclaration.Single("group-advantages", nameof(IBackend.GroupAdvantages), "one thread per group (RlGpu.cs)", (s, r) =>
        {
            int group = Math.Max(2, s.Steps), n = group * Math.Max(1, s.Rows);
            return Enum.GetValues<GroupKind>().Select(kind => Case("group-advantages", nameof(IBackend.GroupAdvantages),
                $"{n / group} groups of {group}, {kind}", Bytes(2, n), [Uniform(r, n), new float[n]], [1],
                (be, x) => be.GroupAdvantages(x[0], x[1], group, kind, 1e-6f)));
        }),
        OpDeclaration.Single("clipped-surrogate", nameof(IBackend.ClippedSurrogate), "grid-stride loop (RlGpu.cs)", (s, r) =>
        {
            int n = s.Elements;
            var logp = Logp(r, n);
            var old = logp.Select(l => l + (float)(r.NextDouble() - 0.5)).ToArray();   // ratios on both sides of the clip
            return [Case("clipped-surrogate", nameof(IBackend.ClippedSurrogate), $"{n}", Bytes(7, n),
                [logp, old, Uniform(r, n), new float[n], new float[n], new float[n], new float[n]], [3, 4, 5, 6],
                (be, x) => be.ClippedSurrogate(x[0], x[1], x[2], x[3], x[4], x[5], x[6], 0.2f, 0.28f, 3f))];
        }),
        OpDeclaration.Single("kl", nameof(IBackend.Kl), "grid-stride loop (RlGpu.cs)", (s, r) =>
            Enum.GetValues<KlKind>().Select(kind => Case("kl", nameof(IBackend.Kl), $"{s.Elements}, {kind}", Bytes(4, s.Elements),
                [Logp(r, s.Elements), Logp(r, s.Elements), new float[s.Elements], new float[s.Elements]], [2, 3],
                (be, x) => be.Kl(x[0], x[1], x[2], x[3], kind)))),
        OpDeclaration.Single("entropy", nameof(IBackend.Entropy), "one group per row (RlGpu.cs)", (s, r) =>
            [Case("entropy", nameof(IBackend.Entropy), $"{s.Tokens}x{s.Vocab}", Bytes(1, (long)s.Tokens * s.Vocab),
                [Uniform(r, s.Tokens * s.Vocab, 3), new float[s.Tokens]], [1],
                (be, x) => be.Entropy(x[0], x[1], s.Tokens, s.Vocab, 0.8f))]),
        OpDeclaration.Single("entropy-backward", nameof(IBackend.EntropyBackward), "one group per row (RlGpu.cs)", (s, r) =>
            [Case("entropy-backward", nameof(IBackend.EntropyBackward), $"{s.Tokens}x{s.Vocab}", Bytes(3, (long)s.Tokens * s.Vocab),
                [Uniform(r, s.Tokens * s.Vocab, 3), Uniform(r, s.Tokens), Uniform(r, s.Tokens * s.Vocab)], [2],
                (be, x) => be.EntropyBackward(x[0], x[1], x[2], s.Tokens, s.Vocab, 0.8f))]),
        OpDeclaration.Single("fused-policy-loss", nameof(IBackend.FusedPolicyLoss),
            "one group per row: log-softmax at the id, clipped loss, k3 KL, entropy and dlogits in one pass (RlGpu.cs)", (s, r) =>
        {
            int n = s.Tokens, v = s.Vocab;
            int[] ids = Ints(r, n, v);
            var p = new FusedPolicyParams(0.9f, 0.2f, 0.28f, 0f, 0.05f, 0.01f, 1);
            return [Case("fused-policy-loss", nameof(IBackend.FusedPolicyLoss), $"{n}x{v}", Bytes(2, (long)n * v),
                [Uniform(r, n * v, 3), Logp(r, n), Uniform(r, n), Positive(r, n), Logp(r, n), new float[n * v],
                    new float[n * FusedStats.Count]],
                [5, 6], (be, x) => be.FusedPolicyLoss(x[0], ids, x[1], x[2], x[3], x[4], x[5], x[6], n, v, p))];
        }),
    ];
}
