using Engine.Kernels.Workbench;
using static Engine.Kernels.Workbench.CaseData;

namespace Engine.Kernels.RL;

/// <summary>The RL math kernels (RlGpu.cs): GAE, whitening, group advantages, the clipped surrogate, KL, entropy and the fused loss.</summary>
public static class RlOps
{
    static OpCase Case(string op, string primitive, string shape, double bytes, float[][] inputs, int[] outputs,
        Action<IBackend, DeviceBuffer[]> run) => new(op, primitive, shape, bytes, WorkUnit.Bytes, inputs, outputs, run);

    /// <summary>Log-probabilities: negative, as sampled tokens' are.</summary>
    static float[] Logp(Random r, int n) => Positive(r, n, -4f, -0.05f);

    public static readonly OpDeclaration[] All =
    [
        OpDeclaration.Single("gae", nameof(IBackend.Gae), "one thread per sequence, a reverse scan (RlGpu.cs)", (s, r) =>
        {
            int n = s.Batch * s.Steps;
            return [Case("gae", nameof(IBackend.Gae), $"{s.Batch}x{s.Steps}", Bytes(5, n),
                [Uniform(r, n), Uniform(r, n), Mask(r, n), new float[n], new float[n]], [3, 4],
                (be, x) => be.Gae(x[0], x[1], x[2], x[3], x[4], s.Batch, s.Steps, 0.99f, 0.95f))];
        }),
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
                [Uniform(r, n * v, 3), Logp(r, n), Uniform(r, n), Positive(r, n), Logp(r, n), new float[n * v], new float[n * FusedStats.Count]],
                [5, 6], (be, x) => be.FusedPolicyLoss(x[0], ids, x[1], x[2], x[3], x[4], x[5], x[6], n, v, p))];
        }),
    ];
}
