namespace Engine.Kernels;

/// <summary>
/// The size checks of every primitive, shared by all backends so that a bad call fails the same
/// way on each, before any kernel runs, with the op and both shapes in the message.
/// </summary>
public static class Validate
{
    static string S(params int[] dims) => ShapeException.Format(dims);

    public static void SameLength(string op, DeviceBuffer a, DeviceBuffer b, string aName = "a", string bName = "b")
    {
        if (a.Length != b.Length)
            throw new ShapeException(op, bName, $"{a.Length} elements (as {aName})", $"{b.Length} elements");
    }

    public static void MatMul(DeviceBuffer a, DeviceBuffer b, DeviceBuffer c, int m, int n, int k, bool transA, bool transB)
    {
        const string op = "matmul";
        Check.NonNegative(op, "m", m); Check.NonNegative(op, "n", n); Check.NonNegative(op, "k", k);
        Check.Length(op, "a", a, m * k, transA ? S(k, m) : S(m, k));
        Check.Length(op, "b", b, k * n, transB ? S(n, k) : S(k, n));
        Check.Length(op, "c", c, m * n, S(m, n));
    }

    public static void Rows(string op, DeviceBuffer x, DeviceBuffer y, int rows, int cols, string xName = "x", string yName = "out")
    {
        Check.NonNegative(op, "rows", rows); Check.Positive(op, "cols", cols);
        Check.Length(op, xName, x, rows * cols, S(rows, cols));
        Check.Length(op, yName, y, rows * cols, S(rows, cols));
    }

    public static void Vector(string op, string name, DeviceBuffer x, int cols) => Check.Length(op, name, x, cols, S(cols));

    public static void Attention(string op, DeviceBuffer q, DeviceBuffer k, DeviceBuffer v, DeviceBuffer o, DeviceBuffer lse,
        int batch, int steps, int qHeads, int kvHeads, int headDim)
    {
        Check.Positive(op, "batch", batch); Check.Positive(op, "steps", steps);
        Check.Positive(op, "qHeads", qHeads); Check.Positive(op, "kvHeads", kvHeads); Check.Positive(op, "headDim", headDim);
        if (qHeads % kvHeads != 0)
            throw new ShapeException(op, "heads", $"query heads a multiple of kv heads ({kvHeads})", $"{qHeads} query heads");
        Check.Length(op, "q", q, batch * steps * qHeads * headDim, S(batch, steps, qHeads, headDim));
        Check.Length(op, "k", k, batch * steps * kvHeads * headDim, S(batch, steps, kvHeads, headDim));
        Check.Length(op, "v", v, batch * steps * kvHeads * headDim, S(batch, steps, kvHeads, headDim));
        Check.Length(op, "out", o, batch * steps * qHeads * headDim, S(batch, steps, qHeads, headDim));
        Check.Length(op, "lse", lse, batch * qHeads * steps, S(batch, qHeads, steps));
    }

    public static void Rope(DeviceBuffer x, DeviceBuffer y, int[] positions, int batch, int steps, int heads, int headDim)
    {
        const string op = "rope";
        Check.Positive(op, "headDim", headDim);
        if (headDim % 2 != 0) throw new ShapeException(op, "headDim", "an even head size", headDim.ToString());
        Positions(op, positions, batch * steps, int.MaxValue);
        Check.Length(op, "x", x, batch * steps * heads * headDim, S(batch, steps, heads, headDim));
        Check.Length(op, "out", y, batch * steps * heads * headDim, S(batch, steps, heads, headDim));
    }

    public static void Positions(string op, int[] positions, int count, int limit)
    {
        if (positions.Length != count) throw new ShapeException(op, "positions", $"{count} positions", $"{positions.Length} positions");
        for (int i = 0; i < positions.Length; i++)
            if (positions[i] < 0 || positions[i] >= limit)
                throw new ShapeException(op, $"positions[{i}]", $"a position in [0, {limit})", positions[i].ToString());
    }

    public static void KvCacheWrite(DeviceBuffer x, DeviceBuffer cache, int[] positions, int batch, int steps, int maxSteps, int cols)
    {
        const string op = "kv_cache_write";
        Check.Length(op, "x", x, batch * steps * cols, S(batch, steps, cols));
        Check.Length(op, "cache", cache, batch * maxSteps * cols, S(batch, maxSteps, cols));
        Positions(op, positions, batch * steps, maxSteps);
    }

    public static void AttentionCached(DeviceBuffer q, DeviceBuffer kCache, DeviceBuffer vCache, DeviceBuffer o, int[] positions,
        int batch, int steps, int maxSteps, int qHeads, int kvHeads, int headDim)
    {
        const string op = "attention_cached";
        Check.Positive(op, "qHeads", qHeads); Check.Positive(op, "kvHeads", kvHeads); Check.Positive(op, "headDim", headDim);
        if (qHeads % kvHeads != 0)
            throw new ShapeException(op, "heads", $"query heads a multiple of kv heads ({kvHeads})", $"{qHeads} query heads");
        Check.Length(op, "q", q, batch * steps * qHeads * headDim, S(batch, steps, qHeads, headDim));
        Check.Length(op, "out", o, batch * steps * qHeads * headDim, S(batch, steps, qHeads, headDim));
        Check.Length(op, "kCache", kCache, batch * maxSteps * kvHeads * headDim, S(batch, maxSteps, kvHeads, headDim));
        Check.Length(op, "vCache", vCache, batch * maxSteps * kvHeads * headDim, S(batch, maxSteps, kvHeads, headDim));
        Positions(op, positions, batch * steps, maxSteps);
    }

    public static void Embedding(int[] ids, DeviceBuffer table, DeviceBuffer rows, int vocab, int cols)
    {
        const string op = "embedding";
        Check.Positive(op, "vocab", vocab); Check.Positive(op, "cols", cols);
        Check.Length(op, "table", table, vocab * cols, S(vocab, cols));
        Check.Ids(op, ids, ids.Length, vocab, allowIgnore: false);
        Check.Length(op, "out", rows, ids.Length * cols, S(ids.Length, cols));
    }

    public static void CrossEntropy(DeviceBuffer logits, int[] targets, DeviceBuffer? dlogits, int rows, int vocab, int ignoreIndex)
    {
        const string op = "cross_entropy";
        Check.NonNegative(op, "rows", rows); Check.Positive(op, "vocab", vocab);
        Check.Length(op, "logits", logits, rows * vocab, S(rows, vocab));
        if (dlogits is not null) Check.Length(op, "dlogits", dlogits, rows * vocab, S(rows, vocab));
        Check.Ids(op, targets, rows, vocab, allowIgnore: true, ignoreIndex);
    }

    public static void AdamW(DeviceBuffer p, DeviceBuffer g, DeviceBuffer m, DeviceBuffer v, int step)
    {
        const string op = "adamw";
        SameLength(op, p, g, "param", "grad"); SameLength(op, p, m, "param", "m"); SameLength(op, p, v, "param", "v");
        if (step < 1) throw new OpArgumentException(op, "step", "a step >= 1 (bias correction counts from 1)", step.ToString());
    }

    public static void Gae(DeviceBuffer r, DeviceBuffer v, DeviceBuffer mask, DeviceBuffer adv, DeviceBuffer ret, int batch, int steps)
    {
        const string op = "gae";
        Check.NonNegative(op, "batch", batch); Check.NonNegative(op, "steps", steps);
        foreach (var (name, b) in new[] { ("rewards", r), ("values", v), ("mask", mask), ("advantages", adv), ("returns", ret) })
            Check.Length(op, name, b, batch * steps, S(batch, steps));
    }

    public static void Group(DeviceBuffer scores, DeviceBuffer adv, int groupSize)
    {
        const string op = "group_advantages";
        Check.Positive(op, "groupSize", groupSize);
        if (scores.Length % groupSize != 0)
            throw new ShapeException(op, "groupSize", $"a divisor of the {scores.Length} scores", groupSize.ToString());
        SameLength(op, scores, adv, "scores", "advantages");
    }

    public static void Clip(string op, float clipLow, float clipHigh, float dualClip)
    {
        if (!(clipLow >= 0 && clipLow < 1)) throw new OpArgumentException(op, "clipLow (ε_low)", "a value in [0, 1)", clipLow.ToString());
        if (!(clipHigh >= 0)) throw new OpArgumentException(op, "clipHigh (ε_high)", "a value >= 0", clipHigh.ToString());
        if (dualClip != 0 && !(dualClip > 1)) throw new OpArgumentException(op, "dualClip", "0 (off) or a value > 1", dualClip.ToString());
    }

    public static void Logits(string op, DeviceBuffer logits, int rows, int vocab, float temperature)
    {
        Check.NonNegative(op, "rows", rows);
        Check.Positive(op, "vocab", vocab);
        Check.Length(op, "logits", logits, rows * vocab, S(rows, vocab));
        if (!(temperature > 0)) throw new OpArgumentException(op, "temperature", "a temperature > 0", temperature.ToString());
    }

    public static void FusedPolicyLoss(DeviceBuffer logits, int[] ids, DeviceBuffer oldLogp, DeviceBuffer adv, DeviceBuffer weights,
        DeviceBuffer? refLogp, DeviceBuffer dlogits, DeviceBuffer stats, int rows, int vocab, RL.FusedPolicyParams p)
    {
        const string op = "fused_policy_loss";
        Logits(op, logits, rows, vocab, p.Temperature);
        Check.Ids(op, ids, rows, vocab, allowIgnore: false);
        Vector(op, "oldLogp", oldLogp, rows); Vector(op, "advantages", adv, rows); Vector(op, "weights", weights, rows);
        if (refLogp is not null) Vector(op, "refLogp", refLogp, rows);
        if ((refLogp is not null) != (p.HasRef != 0))
            throw new ShapeException(op, "refLogp",
                p.HasRef != 0 ? "a reference log-prob buffer" : "none (HasRef = 0)",
                refLogp is null ? "none" : "a buffer");
        Check.Length(op, "dlogits", dlogits, rows * vocab, S(rows, vocab));
        Check.Length(op, "stats", stats, rows * RL.FusedStats.Count, S(rows, RL.FusedStats.Count));
        Clip(op, p.ClipLow, p.ClipHigh, p.DualClip);
    }

    public static void Surrogate(DeviceBuffer logp, DeviceBuffer oldLogp, DeviceBuffer adv, DeviceBuffer loss, DeviceBuffer grad,
        DeviceBuffer clipped, DeviceBuffer approxKl, float clipLow, float clipHigh, float dualClip)
    {
        const string op = "policy_loss";
        foreach (var (name, b) in new[] { ("oldLogp", oldLogp), ("advantages", adv), ("loss", loss), ("grad", grad),
            ("clipped", clipped), ("approxKl", approxKl) })
            SameLength(op, logp, b, "logp", name);
        Clip(op, clipLow, clipHigh, dualClip);
    }

    public static void Kl(DeviceBuffer logp, DeviceBuffer refLogp, DeviceBuffer kl, DeviceBuffer? grad)
    {
        SameLength("kl", logp, refLogp, "logp", "refLogp");
        SameLength("kl", logp, kl, "logp", "kl");
        if (grad is not null) SameLength("kl", logp, grad, "logp", "grad");
    }
}
