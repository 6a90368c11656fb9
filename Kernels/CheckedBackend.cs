using Engine.Kernels.RL;

namespace Engine.Kernels;

/// <summary>
/// Every primitive's argument and shape checks, in one place (the shared <see cref="Validate"/>), so a
/// bad call fails the same way on every backend before any kernel runs. A backend derives from this
/// and implements each primitive's <c>*Core</c>: unwrap its buffers and call the op's kernel.
/// </summary>
public abstract class CheckedBackend : IBackend
{
    public abstract string Name { get; }
    public abstract DeviceBuffer Allocate(int length);
    public virtual DeviceBuffer[] AllocateContiguous(IReadOnlyList<int> lengths) => lengths.Select(Allocate).ToArray();
    public virtual DeviceBuffer? Join(IReadOnlyList<DeviceBuffer> parts) => parts.Count == 1 ? parts[0] : null;
    public abstract void Synchronize();
    public abstract void Dispose();

    public void Fill(DeviceBuffer x, float value)
    {
        FillCore(x, value);
    }
    protected abstract void FillCore(DeviceBuffer x, float value);

    public void Copy(DeviceBuffer source, DeviceBuffer destination)
    {
        Validate.SameLength("copy", source, destination, "source", "destination");
        CopyCore(source, destination);
    }
    protected abstract void CopyCore(DeviceBuffer source, DeviceBuffer destination);

    public void MatMul(DeviceBuffer a, DeviceBuffer b, DeviceBuffer c, int m, int n, int k, bool transA, bool transB,
        bool accumulate = false)
    {
        Validate.MatMul(a, b, c, m, n, k, transA, transB);
        MatMulCore(a, b, c, m, n, k, transA, transB, accumulate);
    }
    protected abstract void MatMulCore(DeviceBuffer a, DeviceBuffer b, DeviceBuffer c, int m, int n, int k,
        bool transA, bool transB, bool accumulate);

    public void Add(DeviceBuffer a, DeviceBuffer b, DeviceBuffer output)
    {
        Validate.SameLength("add", a, b); Validate.SameLength("add", a, output, "a", "out");
        AddCore(a, b, output);
    }
    protected abstract void AddCore(DeviceBuffer a, DeviceBuffer b, DeviceBuffer output);

    public void Mul(DeviceBuffer a, DeviceBuffer b, DeviceBuffer output)
    {
        Validate.SameLength("mul", a, b); Validate.SameLength("mul", a, output, "a", "out");
        MulCore(a, b, output);
    }
    protected abstract void MulCore(DeviceBuffer a, DeviceBuffer b, DeviceBuffer output);

    public void MulBackward(DeviceBuffer a, DeviceBuffer b, DeviceBuffer dout, DeviceBuffer? da, DeviceBuffer? db)
    {
        const string op = "mul_backward";
        Validate.SameLength(op, a, b); Validate.SameLength(op, a, dout, "a", "dout");
        if (da is not null) Validate.SameLength(op, a, da, "a", "da");
        if (db is not null) Validate.SameLength(op, a, db, "a", "db");
        MulBackwardCore(a, b, dout, da, db);
    }
    protected abstract void MulBackwardCore(DeviceBuffer a, DeviceBuffer b, DeviceBuffer dout, DeviceBuffer? da, DeviceBuffer? db);

    public void Scale(DeviceBuffer x, float alpha, DeviceBuffer output)
    {
        Validate.SameLength("scale", x, output, "x", "out");
        ScaleCore(x, alpha, output);
    }
    protected abstract void ScaleCore(DeviceBuffer x, float alpha, DeviceBuffer output);

    public void Axpy(float alpha, DeviceBuffer x, DeviceBuffer y)
    {
        Validate.SameLength("axpy", x, y, "x", "y");
        AxpyCore(alpha, x, y);
    }
    protected abstract void AxpyCore(float alpha, DeviceBuffer x, DeviceBuffer y);

    public void BiasAdd(DeviceBuffer x, DeviceBuffer bias, DeviceBuffer output, int rows, int cols)
    {
        Validate.Rows("bias_add", x, output, rows, cols); Validate.Vector("bias_add", "bias", bias, cols);
        BiasAddCore(x, bias, output, rows, cols);
    }
    protected abstract void BiasAddCore(DeviceBuffer x, DeviceBuffer bias, DeviceBuffer output, int rows, int cols);

    public void BiasBackward(DeviceBuffer dout, DeviceBuffer dbias, int rows, int cols)
    {
        Validate.Rows("bias_backward", dout, dout, rows, cols, "dout", "dout"); Validate.Vector("bias_backward", "dbias", dbias, cols);
        BiasBackwardCore(dout, dbias, rows, cols);
    }
    protected abstract void BiasBackwardCore(DeviceBuffer dout, DeviceBuffer dbias, int rows, int cols);

    public void Gelu(DeviceBuffer x, DeviceBuffer output)
    {
        Validate.SameLength("gelu", x, output, "x", "out");
        GeluCore(x, output);
    }
    protected abstract void GeluCore(DeviceBuffer x, DeviceBuffer output);

    public void GeluBackward(DeviceBuffer x, DeviceBuffer dout, DeviceBuffer dx)
    {
        Validate.SameLength("gelu_backward", x, dout, "x", "dout"); Validate.SameLength("gelu_backward", x, dx, "x", "dx");
        GeluBackwardCore(x, dout, dx);
    }
    protected abstract void GeluBackwardCore(DeviceBuffer x, DeviceBuffer dout, DeviceBuffer dx);

    public void Silu(DeviceBuffer x, DeviceBuffer output)
    {
        Validate.SameLength("silu", x, output, "x", "out");
        SiluCore(x, output);
    }
    protected abstract void SiluCore(DeviceBuffer x, DeviceBuffer output);

    public void SiluBackward(DeviceBuffer x, DeviceBuffer dout, DeviceBuffer dx)
    {
        Validate.SameLength("silu_backward", x, dout, "x", "dout"); Validate.SameLength("silu_backward", x, dx, "x", "dx");
        SiluBackwardCore(x, dout, dx);
    }
    protected abstract void SiluBackwardCore(DeviceBuffer x, DeviceBuffer dout, DeviceBuffer dx);

    public void SwiGlu(DeviceBuffer gate, DeviceBuffer up, DeviceBuffer output)
    {
        Validate.SameLength("swiglu", gate, up, "gate", "up"); Validate.SameLength("swiglu", gate, output, "gate", "out");
        SwiGluCore(gate, up, output);
    }
    protected abstract void SwiGluCore(DeviceBuffer gate, DeviceBuffer up, DeviceBuffer output);

    public void SwiGluBackward(DeviceBuffer gate, DeviceBuffer up, DeviceBuffer dout, DeviceBuffer dgate, DeviceBuffer dup)
    {
        const string op = "swiglu_backward";
        Validate.SameLength(op, gate, up, "gate", "up"); Validate.SameLength(op, gate, dout, "gate", "dout");
        Validate.SameLength(op, gate, dgate, "gate", "dgate"); Validate.SameLength(op, gate, dup, "gate", "dup");
        SwiGluBackwardCore(gate, up, dout, dgate, dup);
    }
    protected abstract void SwiGluBackwardCore(DeviceBuffer gate, DeviceBuffer up, DeviceBuffer dout, DeviceBuffer dgate, DeviceBuffer dup);

    public void LayerNorm(DeviceBuffer x, DeviceBuffer weight, DeviceBuffer bias, DeviceBuffer output, DeviceBuffer mean,
        DeviceBuffer rstd, int rows, int cols, float eps)
    {
        const string op = "layernorm";
        Validate.Rows(op, x, output, rows, cols); Validate.Vector(op, "weight", weight, cols); Validate.Vector(op, "bias", bias, cols);
        Validate.Vector(op, "mean", mean, rows); Validate.Vector(op, "rstd", rstd, rows);
        LayerNormCore(x, weight, bias, output, mean, rstd, rows, cols, eps);
    }
    protected abstract void LayerNormCore(DeviceBuffer x, DeviceBuffer weight, DeviceBuffer bias, DeviceBuffer output, DeviceBuffer mean,
        DeviceBuffer rstd, int rows, int cols, float eps);

    public void LayerNormBackward(DeviceBuffer x, DeviceBuffer weight, DeviceBuffer mean, DeviceBuffer rstd,
        DeviceBuffer dout, DeviceBuffer dx,
        DeviceBuffer dweight, DeviceBuffer dbias, int rows, int cols)
    {
        const string op = "layernorm_backward";
        Validate.Rows(op, x, dout, rows, cols, "x", "dout"); Validate.Rows(op, x, dx, rows, cols, "x", "dx");
        Validate.Vector(op, "weight", weight, cols); Validate.Vector(op, "dweight", dweight, cols);
        Validate.Vector(op, "dbias", dbias, cols);
        Validate.Vector(op, "mean", mean, rows); Validate.Vector(op, "rstd", rstd, rows);
        LayerNormBackwardCore(x, weight, mean, rstd, dout, dx, dweight, dbias, rows, cols);
    }
    protected abstract void LayerNormBackwardCore(DeviceBuffer x, DeviceBuffer weight, DeviceBuffer mean,
        DeviceBuffer rstd, DeviceBuffer dout, DeviceBuffer dx,
        DeviceBuffer dweight, DeviceBuffer dbias, int rows, int cols);

    public void RmsNorm(DeviceBuffer x, DeviceBuffer weight, DeviceBuffer output, DeviceBuffer rstd, int rows, int cols, float eps)
    {
        const string op = "rmsnorm";
        Validate.Rows(op, x, output, rows, cols); Validate.Vector(op, "weight", weight, cols); Validate.Vector(op, "rstd", rstd, rows);
        RmsNormCore(x, weight, output, rstd, rows, cols, eps);
    }
    protected abstract void RmsNormCore(DeviceBuffer x, DeviceBuffer weight, DeviceBuffer output, DeviceBuffer rstd,
        int rows, int cols, float eps);

    public void RmsNormBackward(DeviceBuffer x, DeviceBuffer weight, DeviceBuffer rstd, DeviceBuffer dout, DeviceBuffer dx,
        DeviceBuffer dweight, int rows, int cols)
    {
        const string op = "rmsnorm_backward";
        Validate.Rows(op, x, dout, rows, cols, "x", "dout"); Validate.Rows(op, x, dx, rows, cols, "x", "dx");
        Validate.Vector(op, "weight", weight, cols); Validate.Vector(op, "dweight", dweight, cols); Validate.Vector(op, "rstd", rstd, rows);
        RmsNormBackwardCore(x, weight, rstd, dout, dx, dweight, rows, cols);
    }
    protected abstract void RmsNormBackwardCore(DeviceBuffer x, DeviceBuffer weight, DeviceBuffer rstd, DeviceBuffer dout, DeviceBuffer dx,
        DeviceBuffer dweight, int rows, int cols);

    public void Softmax(DeviceBuffer x, DeviceBuffer output, int rows, int cols)
    {
        Validate.Rows("softmax", x, output, rows, cols);
        SoftmaxCore(x, output, rows, cols);
    }
    protected abstract void SoftmaxCore(DeviceBuffer x, DeviceBuffer output, int rows, int cols);

    public void SoftmaxBackward(DeviceBuffer y, DeviceBuffer dy, DeviceBuffer dx, int rows, int cols)
    {
        const string op = "softmax_backward";
        Validate.Rows(op, y, dy, rows, cols, "y", "dy"); Validate.Rows(op, y, dx, rows, cols, "y", "dx");
        SoftmaxBackwardCore(y, dy, dx, rows, cols);
    }
    protected abstract void SoftmaxBackwardCore(DeviceBuffer y, DeviceBuffer dy, DeviceBuffer dx, int rows, int cols);

    public void Attention(DeviceBuffer q, DeviceBuffer k, DeviceBuffer v, DeviceBuffer output, DeviceBuffer lse, int batch, int steps,
        int qHeads, int kvHeads, int headDim)
    {
        const string op = "attention";
        Validate.Attention(op, q, k, v, output, lse, batch, steps, qHeads, kvHeads, headDim);
        AttentionCore(q, k, v, output, lse, batch, steps, qHeads, kvHeads, headDim);
    }
    protected abstract void AttentionCore(DeviceBuffer q, DeviceBuffer k, DeviceBuffer v, DeviceBuffer output,
        DeviceBuffer lse, int batch, int steps,
        int qHeads, int kvHeads, int headDim);

    public void AttentionBackward(DeviceBuffer q, DeviceBuffer k, DeviceBuffer v, DeviceBuffer output, DeviceBuffer lse, DeviceBuffer dout,
        DeviceBuffer dq, DeviceBuffer dk, DeviceBuffer dv, int batch, int steps, int qHeads, int kvHeads, int headDim)
    {
        const string op = "attention_backward";
        Validate.Attention(op, q, k, v, dout, lse, batch, steps, qHeads, kvHeads, headDim);
        Validate.SameLength(op, q, output, "q", "output");
        Validate.SameLength(op, q, dq, "q", "dq"); Validate.SameLength(op, k, dk, "k", "dk"); Validate.SameLength(op, v, dv, "v", "dv");
        AttentionBackwardCore(q, k, v, output, lse, dout, dq, dk, dv, batch, steps, qHeads, kvHeads, headDim);
    }
    protected abstract void AttentionBackwardCore(DeviceBuffer q, DeviceBuffer k, DeviceBuffer v, DeviceBuffer output,
        DeviceBuffer lse, DeviceBuffer dout,
        DeviceBuffer dq, DeviceBuffer dk, DeviceBuffer dv, int batch, int steps, int qHeads, int kvHeads, int headDim);

    public void Rope(DeviceBuffer x, DeviceBuffer output, int[] positions, int batch, int steps, int heads, int headDim,
        float theta)
    {
        Validate.Rope(x, output, positions, batch, steps, heads, headDim);
        RopeCore(x, output, positions, batch, steps, heads, headDim, theta);
    }
    protected abstract void RopeCore(DeviceBuffer x, DeviceBuffer output, int[] positions, int batch, int steps, int heads, int headDim,
        float theta);

    public void RopeBackward(DeviceBuffer dout, DeviceBuffer dx, int[] positions, int batch, int steps, int heads, int headDim, float theta)
    {
        Validate.Rope(dout, dx, positions, batch, steps, heads, headDim);
        RopeBackwardCore(dout, dx, positions, batch, steps, heads, headDim, theta);
    }
    protected abstract void RopeBackwardCore(DeviceBuffer dout, DeviceBuffer dx, int[] positions, int batch, int steps,
        int heads, int headDim, float theta);

    public void KvCacheWrite(DeviceBuffer x, DeviceBuffer cache, int[] positions, int batch, int steps, int maxSteps, int cols)
    {
        Validate.KvCacheWrite(x, cache, positions, batch, steps, maxSteps, cols);
        KvCacheWriteCore(x, cache, positions, batch, steps, maxSteps, cols);
    }
    protected abstract void KvCacheWriteCore(DeviceBuffer x, DeviceBuffer cache, int[] positions, int batch, int steps,
        int maxSteps, int cols);

    public void AttentionCached(DeviceBuffer q, DeviceBuffer kCache, DeviceBuffer vCache, DeviceBuffer output, int[] positions, int batch,
        int steps, int maxSteps, int qHeads, int kvHeads, int headDim)
    {
        Validate.AttentionCached(q, kCache, vCache, output, positions, batch, steps, maxSteps, qHeads, kvHeads, headDim);
        AttentionCachedCore(q, kCache, vCache, output, positions, batch, steps, maxSteps, qHeads, kvHeads, headDim);
    }
    protected abstract void AttentionCachedCore(DeviceBuffer q, DeviceBuffer kCache, DeviceBuffer vCache,
        DeviceBuffer output, int[] positions, int batch,
        int steps, int maxSteps, int qHeads, int kvHeads, int headDim);

    public void Embedding(int[] ids, DeviceBuffer table, DeviceBuffer output, int vocab, int cols)
    {
        Validate.Embedding(ids, table, output, vocab, cols);
        EmbeddingCore(ids, table, output, vocab, cols);
    }
    protected abstract void EmbeddingCore(int[] ids, DeviceBuffer table, DeviceBuffer output, int vocab, int cols);

    public void EmbeddingBackward(int[] ids, DeviceBuffer dout, DeviceBuffer dtable, int vocab, int cols)
    {
        Validate.Embedding(ids, dtable, dout, vocab, cols);
        EmbeddingBackwardCore(ids, dout, dtable, vocab, cols);
    }
    protected abstract void EmbeddingBackwardCore(int[] ids, DeviceBuffer dout, DeviceBuffer dtable, int vocab, int cols);

    public float CrossEntropy(DeviceBuffer logits, int[] targets, DeviceBuffer? dlogits, int rows, int vocab, int ignoreIndex = -1,
        float scale = 1f)
    {
        Validate.CrossEntropy(logits, targets, dlogits, rows, vocab, ignoreIndex);
        return CrossEntropyCore(logits, targets, dlogits, rows, vocab, ignoreIndex, scale);
    }
    protected abstract float CrossEntropyCore(DeviceBuffer logits, int[] targets, DeviceBuffer? dlogits, int rows,
        int vocab, int ignoreIndex, float scale);

    public void Sum(DeviceBuffer x, DeviceBuffer output)
    {
        Validate.Vector("sum", "out", output, 1);
        SumCore(x, output);
    }
    protected abstract void SumCore(DeviceBuffer x, DeviceBuffer output);

    public void SumBackward(DeviceBuffer dout, DeviceBuffer dx, float scale)
    {
        Validate.Vector("sum_backward", "dout", dout, 1);
        SumBackwardCore(dout, dx, scale);
    }
    protected abstract void SumBackwardCore(DeviceBuffer dout, DeviceBuffer dx, float scale);

    public void SampleTokens(DeviceBuffer logits, DeviceBuffer uniforms, DeviceBuffer tokens, DeviceBuffer logprobs, int rows,
        int vocab, float temperature, int topK, float topP)
    {
        const string op = "sample_tokens";
        Check.NonNegative(op, "rows", rows);
        Check.Positive(op, "vocab", vocab);
        Check.Length(op, "logits", logits, rows * vocab, ShapeException.Format([rows, vocab]));
        Validate.Vector(op, "uniforms", uniforms, rows);
        Validate.Vector(op, "tokens", tokens, rows);
        Validate.Vector(op, "logprobs", logprobs, rows);
        if (!(temperature >= 0) || !float.IsFinite(temperature))
            throw new OpArgumentException(op, "temperature", "a temperature >= 0 (0: greedy)", temperature.ToString());
        if (topK < 0) throw new OpArgumentException(op, "topK", "k >= 0 (0: off)", topK.ToString());
        if (!(topP > 0 && topP <= 1)) throw new OpArgumentException(op, "topP", "a mass in (0, 1]", topP.ToString());
        SampleTokensCore(logits, uniforms, tokens, logprobs, rows, vocab, temperature, topK, topP);
    }
    protected abstract void SampleTokensCore(DeviceBuffer logits, DeviceBuffer uniforms, DeviceBuffer tokens, DeviceBuffer logprobs,
        int rows, int vocab, float temperature, int topK, float topP);

    public void SumOfSquaresInto(DeviceBuffer x, DeviceBuffer sums, int index)
    {
        if (index < 0 || index >= sums.Length)
            throw new ShapeException("sum_of_squares_into", "index", $"an index in [0, {sums.Length})", index.ToString());
        SumOfSquaresIntoCore(x, sums, index);
    }
    protected abstract void SumOfSquaresIntoCore(DeviceBuffer x, DeviceBuffer sums, int index);

    public void AdamW(DeviceBuffer param, DeviceBuffer grad, DeviceBuffer m, DeviceBuffer v, float lr, float beta1, float beta2,
        float eps, float weightDecay, int step)
    {
        Validate.AdamW(param, grad, m, v, step);
        AdamWCore(param, grad, m, v, lr, beta1, beta2, eps, weightDecay, step);
    }
    protected abstract void AdamWCore(DeviceBuffer param, DeviceBuffer grad, DeviceBuffer m, DeviceBuffer v, float lr,
        float beta1, float beta2,
        float eps, float weightDecay, int step);

    public void Gae(DeviceBuffer rewards, DeviceBuffer values, DeviceBuffer mask, DeviceBuffer advantages, DeviceBuffer returns,
        int batch, int steps, float gamma, float lambda)
    {
        Validate.Gae(rewards, values, mask, advantages, returns, batch, steps);
        GaeCore(rewards, values, mask, advantages, returns, batch, steps, gamma, lambda);
    }
    protected abstract void GaeCore(DeviceBuffer rewards, DeviceBuffer values, DeviceBuffer mask,
        DeviceBuffer advantages, DeviceBuffer returns,
        int batch, int steps, float gamma, float lambda);

    public void MaskedWhiten(DeviceBuffer x, DeviceBuffer mask)
    {
        Validate.SameLength("whiten", x, mask, "x", "mask");
        MaskedWhitenCore(x, mask);
    }
    protected abstract void MaskedWhitenCore(DeviceBuffer x, DeviceBuffer mask);

    public void GroupAdvantages(DeviceBuffer scores, DeviceBuffer advantages, int groupSize, GroupKind kind, float epsilon)
    {
        Validate.Group(scores, advantages, groupSize);
        GroupAdvantagesCore(scores, advantages, groupSize, kind, epsilon);
    }
    protected abstract void GroupAdvantagesCore(DeviceBuffer scores, DeviceBuffer advantages, int groupSize, GroupKind kind, float epsilon);

    public void ClippedSurrogate(DeviceBuffer logp, DeviceBuffer oldLogp, DeviceBuffer advantages, DeviceBuffer loss, DeviceBuffer grad,
        DeviceBuffer clipped, DeviceBuffer approxKl, float clipLow, float clipHigh, float dualClip)
    {
        Validate.Surrogate(logp, oldLogp, advantages, loss, grad, clipped, approxKl, clipLow, clipHigh, dualClip);
        ClippedSurrogateCore(logp, oldLogp, advantages, loss, grad, clipped, approxKl, clipLow, clipHigh, dualClip);
    }
    protected abstract void ClippedSurrogateCore(DeviceBuffer logp, DeviceBuffer oldLogp, DeviceBuffer advantages,
        DeviceBuffer loss, DeviceBuffer grad,
        DeviceBuffer clipped, DeviceBuffer approxKl, float clipLow, float clipHigh, float dualClip);

    public void Kl(DeviceBuffer logp, DeviceBuffer refLogp, DeviceBuffer kl, DeviceBuffer? grad, KlKind kind)
    {
        Validate.Kl(logp, refLogp, kl, grad);
        KlCore(logp, refLogp, kl, grad, kind);
    }
    protected abstract void KlCore(DeviceBuffer logp, DeviceBuffer refLogp, DeviceBuffer kl, DeviceBuffer? grad, KlKind kind);

    public void Entropy(DeviceBuffer logits, DeviceBuffer entropy, int rows, int vocab, float temperature)
    {
        Validate.Logits("entropy", logits, rows, vocab, temperature); Validate.Vector("entropy", "entropy", entropy, rows);
        EntropyCore(logits, entropy, rows, vocab, temperature);
    }
    protected abstract void EntropyCore(DeviceBuffer logits, DeviceBuffer entropy, int rows, int vocab, float temperature);

    public void EntropyBackward(DeviceBuffer logits, DeviceBuffer dEntropy, DeviceBuffer dlogits, int rows, int vocab, float temperature)
    {
        const string op = "entropy_backward";
        Validate.Logits(op, logits, rows, vocab, temperature); Validate.Vector(op, "dEntropy", dEntropy, rows);
        Validate.SameLength(op, logits, dlogits, "logits", "dlogits");
        EntropyBackwardCore(logits, dEntropy, dlogits, rows, vocab, temperature);
    }
    protected abstract void EntropyBackwardCore(DeviceBuffer logits, DeviceBuffer dEntropy, DeviceBuffer dlogits,
        int rows, int vocab, float temperature);

    public void FusedPolicyLoss(DeviceBuffer logits, int[] ids, DeviceBuffer oldLogp, DeviceBuffer advantages, DeviceBuffer weights,
        DeviceBuffer? refLogp, DeviceBuffer dlogits, DeviceBuffer stats, int rows, int vocab, FusedPolicyParams p)
    {
        Validate.FusedPolicyLoss(logits, ids, oldLogp, advantages, weights, refLogp, dlogits, stats, rows, vocab, p);
        FusedPolicyLossCore(logits, ids, oldLogp, advantages, weights, refLogp, dlogits, stats, rows, vocab, p);
    }
    protected abstract void FusedPolicyLossCore(DeviceBuffer logits, int[] ids, DeviceBuffer oldLogp,
        DeviceBuffer advantages, DeviceBuffer weights,
        DeviceBuffer? refLogp, DeviceBuffer dlogits, DeviceBuffer stats, int rows, int vocab, FusedPolicyParams p);
}
