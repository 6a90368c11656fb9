using System.Diagnostics;

namespace Engine.Kernels;

/// <summary>
/// A decorator that times every primitive of the backend it wraps (synchronising the device around
/// each call, so GPU times are real) and reports where a step spends its time, per op, as
/// nietras/Llm.cs does. Wrap a backend in it with --profile; remove it and nothing else changes.
/// The forwarding members at the bottom are generated from IBackend by tools/gen-timing-backend.py.
/// </summary>
public sealed class TimingBackend(IBackend inner) : IBackend
{
    readonly Dictionary<string, (int Calls, double Seconds)> totals = [];
    public string Name => inner.Name + " [timed]";
    public IBackend Inner => inner;

    long Start() { inner.Synchronize(); return Stopwatch.GetTimestamp(); }

    void Stop(string op, long start)
    {
        inner.Synchronize();
        double s = Stopwatch.GetElapsedTime(start).TotalSeconds;
        lock (totals)
        {
            totals.TryGetValue(op, out var t);
            totals[op] = (t.Calls + 1, t.Seconds + s);
        }
    }

    public void Reset() { lock (totals) totals.Clear(); }

    /// <summary>Ops sorted by total time: calls, total ms, share of the timed total.</summary>
    public IReadOnlyList<(string Op, int Calls, double Milliseconds, double Share)> Report()
    {
        lock (totals)
        {
            double all = totals.Values.Sum(t => t.Seconds);
            return totals.OrderByDescending(kv => kv.Value.Seconds)
                .Select(kv => (kv.Key, kv.Value.Calls, kv.Value.Seconds * 1e3, all > 0 ? kv.Value.Seconds / all : 0))
                .ToList();
        }
    }

    public string FormatReport()
    {
        var sb = new System.Text.StringBuilder();
        sb.AppendLine($"{"op",-22} {"calls",8} {"total ms",10} {"share",7}");
        foreach (var (op, calls, ms, share) in Report())
            sb.AppendLine($"{op,-22} {calls,8} {ms,10:F1} {share,7:P1}");
        return sb.ToString();
    }

    public void Dispose() => inner.Dispose();

    // ---- the wrapped primitives, one line each ----
    public DeviceBuffer Allocate(int length) => inner.Allocate(length);
    public void Synchronize() => inner.Synchronize();
    public void Fill(DeviceBuffer x, float value) { var t = Start(); inner.Fill(x, value); Stop("Fill", t); }
    public void Copy(DeviceBuffer source, DeviceBuffer destination) { var t = Start(); inner.Copy(source, destination); Stop("Copy", t); }
    public void MatMul(DeviceBuffer a, DeviceBuffer b, DeviceBuffer c, int m, int n, int k, bool transA, bool transB, bool accumulate = false) { var t = Start(); inner.MatMul(a, b, c, m, n, k, transA, transB, accumulate); Stop("MatMul", t); }
    public void Add(DeviceBuffer a, DeviceBuffer b, DeviceBuffer output) { var t = Start(); inner.Add(a, b, output); Stop("Add", t); }
    public void Mul(DeviceBuffer a, DeviceBuffer b, DeviceBuffer output) { var t = Start(); inner.Mul(a, b, output); Stop("Mul", t); }
    public void MulBackward(DeviceBuffer a, DeviceBuffer b, DeviceBuffer dout, DeviceBuffer? da, DeviceBuffer? db) { var t = Start(); inner.MulBackward(a, b, dout, da, db); Stop("MulBackward", t); }
    public void Scale(DeviceBuffer x, float alpha, DeviceBuffer output) { var t = Start(); inner.Scale(x, alpha, output); Stop("Scale", t); }
    public void Axpy(float alpha, DeviceBuffer x, DeviceBuffer y) { var t = Start(); inner.Axpy(alpha, x, y); Stop("Axpy", t); }
    public void BiasAdd(DeviceBuffer x, DeviceBuffer bias, DeviceBuffer output, int rows, int cols) { var t = Start(); inner.BiasAdd(x, bias, output, rows, cols); Stop("BiasAdd", t); }
    public void BiasBackward(DeviceBuffer dout, DeviceBuffer dbias, int rows, int cols) { var t = Start(); inner.BiasBackward(dout, dbias, rows, cols); Stop("BiasBackward", t); }
    public void Gelu(DeviceBuffer x, DeviceBuffer output) { var t = Start(); inner.Gelu(x, output); Stop("Gelu", t); }
    public void GeluBackward(DeviceBuffer x, DeviceBuffer dout, DeviceBuffer dx) { var t = Start(); inner.GeluBackward(x, dout, dx); Stop("GeluBackward", t); }
    public void Silu(DeviceBuffer x, DeviceBuffer output) { var t = Start(); inner.Silu(x, output); Stop("Silu", t); }
    public void SiluBackward(DeviceBuffer x, DeviceBuffer dout, DeviceBuffer dx) { var t = Start(); inner.SiluBackward(x, dout, dx); Stop("SiluBackward", t); }
    public void SwiGlu(DeviceBuffer gate, DeviceBuffer up, DeviceBuffer output) { var t = Start(); inner.SwiGlu(gate, up, output); Stop("SwiGlu", t); }
    public void SwiGluBackward(DeviceBuffer gate, DeviceBuffer up, DeviceBuffer dout, DeviceBuffer dgate, DeviceBuffer dup) { var t = Start(); inner.SwiGluBackward(gate, up, dout, dgate, dup); Stop("SwiGluBackward", t); }
    public void LayerNorm(DeviceBuffer x, DeviceBuffer weight, DeviceBuffer bias, DeviceBuffer output, DeviceBuffer mean, DeviceBuffer rstd, int rows, int cols, float eps) { var t = Start(); inner.LayerNorm(x, weight, bias, output, mean, rstd, rows, cols, eps); Stop("LayerNorm", t); }
    public void LayerNormBackward(DeviceBuffer x, DeviceBuffer weight, DeviceBuffer mean, DeviceBuffer rstd, DeviceBuffer dout, DeviceBuffer dx, DeviceBuffer dweight, DeviceBuffer dbias, int rows, int cols) { var t = Start(); inner.LayerNormBackward(x, weight, mean, rstd, dout, dx, dweight, dbias, rows, cols); Stop("LayerNormBackward", t); }
    public void RmsNorm(DeviceBuffer x, DeviceBuffer weight, DeviceBuffer output, DeviceBuffer rstd, int rows, int cols, float eps) { var t = Start(); inner.RmsNorm(x, weight, output, rstd, rows, cols, eps); Stop("RmsNorm", t); }
    public void RmsNormBackward(DeviceBuffer x, DeviceBuffer weight, DeviceBuffer rstd, DeviceBuffer dout, DeviceBuffer dx, DeviceBuffer dweight, int rows, int cols) { var t = Start(); inner.RmsNormBackward(x, weight, rstd, dout, dx, dweight, rows, cols); Stop("RmsNormBackward", t); }
    public void Softmax(DeviceBuffer x, DeviceBuffer output, int rows, int cols) { var t = Start(); inner.Softmax(x, output, rows, cols); Stop("Softmax", t); }
    public void SoftmaxBackward(DeviceBuffer y, DeviceBuffer dy, DeviceBuffer dx, int rows, int cols) { var t = Start(); inner.SoftmaxBackward(y, dy, dx, rows, cols); Stop("SoftmaxBackward", t); }
    public void Attention(DeviceBuffer q, DeviceBuffer k, DeviceBuffer v, DeviceBuffer output, DeviceBuffer lse, int batch, int steps, int qHeads, int kvHeads, int headDim) { var t = Start(); inner.Attention(q, k, v, output, lse, batch, steps, qHeads, kvHeads, headDim); Stop("Attention", t); }
    public void AttentionBackward(DeviceBuffer q, DeviceBuffer k, DeviceBuffer v, DeviceBuffer output, DeviceBuffer lse, DeviceBuffer dout, DeviceBuffer dq, DeviceBuffer dk, DeviceBuffer dv, int batch, int steps, int qHeads, int kvHeads, int headDim) { var t = Start(); inner.AttentionBackward(q, k, v, output, lse, dout, dq, dk, dv, batch, steps, qHeads, kvHeads, headDim); Stop("AttentionBackward", t); }
    public void Rope(DeviceBuffer x, DeviceBuffer output, int[] positions, int batch, int steps, int heads, int headDim, float theta) { var t = Start(); inner.Rope(x, output, positions, batch, steps, heads, headDim, theta); Stop("Rope", t); }
    public void RopeBackward(DeviceBuffer dout, DeviceBuffer dx, int[] positions, int batch, int steps, int heads, int headDim, float theta) { var t = Start(); inner.RopeBackward(dout, dx, positions, batch, steps, heads, headDim, theta); Stop("RopeBackward", t); }
    public void KvCacheWrite(DeviceBuffer x, DeviceBuffer cache, int[] positions, int batch, int steps, int maxSteps, int cols) { var t = Start(); inner.KvCacheWrite(x, cache, positions, batch, steps, maxSteps, cols); Stop("KvCacheWrite", t); }
    public void AttentionCached(DeviceBuffer q, DeviceBuffer kCache, DeviceBuffer vCache, DeviceBuffer output, int[] positions, int batch, int steps, int maxSteps, int qHeads, int kvHeads, int headDim) { var t = Start(); inner.AttentionCached(q, kCache, vCache, output, positions, batch, steps, maxSteps, qHeads, kvHeads, headDim); Stop("AttentionCached", t); }
    public void Embedding(int[] ids, DeviceBuffer table, DeviceBuffer output, int vocab, int cols) { var t = Start(); inner.Embedding(ids, table, output, vocab, cols); Stop("Embedding", t); }
    public void EmbeddingBackward(int[] ids, DeviceBuffer dout, DeviceBuffer dtable, int vocab, int cols) { var t = Start(); inner.EmbeddingBackward(ids, dout, dtable, vocab, cols); Stop("EmbeddingBackward", t); }
    public float CrossEntropy(DeviceBuffer logits, int[] targets, DeviceBuffer? dlogits, int rows, int vocab, int ignoreIndex = -1, float scale = 1f) { var t = Start(); var r = inner.CrossEntropy(logits, targets, dlogits, rows, vocab, ignoreIndex, scale); Stop("CrossEntropy", t); return r; }
    public void Sum(DeviceBuffer x, DeviceBuffer output) { var t = Start(); inner.Sum(x, output); Stop("Sum", t); }
    public void SumBackward(DeviceBuffer dout, DeviceBuffer dx, float scale) { var t = Start(); inner.SumBackward(dout, dx, scale); Stop("SumBackward", t); }
    public float SumOfSquares(DeviceBuffer x) { var t = Start(); var r = inner.SumOfSquares(x); Stop("SumOfSquares", t); return r; }
    public void SumOfSquaresInto(DeviceBuffer x, DeviceBuffer sums, int index) { var t = Start(); inner.SumOfSquaresInto(x, sums, index); Stop("SumOfSquaresInto", t); }
    public void AdamW(DeviceBuffer param, DeviceBuffer grad, DeviceBuffer m, DeviceBuffer v, float lr, float beta1, float beta2, float eps, float weightDecay, int step) { var t = Start(); inner.AdamW(param, grad, m, v, lr, beta1, beta2, eps, weightDecay, step); Stop("AdamW", t); }
    public void Gae(DeviceBuffer rewards, DeviceBuffer values, DeviceBuffer mask, DeviceBuffer advantages, DeviceBuffer returns, int batch, int steps, float gamma, float lambda) { var t = Start(); inner.Gae(rewards, values, mask, advantages, returns, batch, steps, gamma, lambda); Stop("Gae", t); }
    public void MaskedWhiten(DeviceBuffer x, DeviceBuffer mask) { var t = Start(); inner.MaskedWhiten(x, mask); Stop("MaskedWhiten", t); }
    public void GroupAdvantages(DeviceBuffer scores, DeviceBuffer advantages, int groupSize, RL.GroupKind kind, float epsilon) { var t = Start(); inner.GroupAdvantages(scores, advantages, groupSize, kind, epsilon); Stop("GroupAdvantages", t); }
    public void ClippedSurrogate(DeviceBuffer logp, DeviceBuffer oldLogp, DeviceBuffer advantages, DeviceBuffer loss, DeviceBuffer grad, DeviceBuffer clipped, DeviceBuffer approxKl, float clipLow, float clipHigh, float dualClip) { var t = Start(); inner.ClippedSurrogate(logp, oldLogp, advantages, loss, grad, clipped, approxKl, clipLow, clipHigh, dualClip); Stop("ClippedSurrogate", t); }
    public void Kl(DeviceBuffer logp, DeviceBuffer refLogp, DeviceBuffer kl, DeviceBuffer? grad, RL.KlKind kind) { var t = Start(); inner.Kl(logp, refLogp, kl, grad, kind); Stop("Kl", t); }
    public void Entropy(DeviceBuffer logits, DeviceBuffer entropy, int rows, int vocab, float temperature) { var t = Start(); inner.Entropy(logits, entropy, rows, vocab, temperature); Stop("Entropy", t); }
    public void EntropyBackward(DeviceBuffer logits, DeviceBuffer dEntropy, DeviceBuffer dlogits, int rows, int vocab, float temperature) { var t = Start(); inner.EntropyBackward(logits, dEntropy, dlogits, rows, vocab, temperature); Stop("EntropyBackward", t); }
    public void FusedPolicyLoss(DeviceBuffer logits, int[] ids, DeviceBuffer oldLogp, DeviceBuffer advantages, DeviceBuffer weights, DeviceBuffer? refLogp, DeviceBuffer dlogits, DeviceBuffer stats, int rows, int vocab, RL.FusedPolicyParams parameters) { var t = Start(); inner.FusedPolicyLoss(logits, ids, oldLogp, advantages, weights, refLogp, dlogits, stats, rows, vocab, parameters); Stop("FusedPolicyLoss", t); }
}
