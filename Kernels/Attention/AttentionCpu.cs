namespace Engine.Kernels.Attention;

/// <summary>
/// The plain causal self-attention, as the math reads: scores = q·kᵀ/√D, causal mask, softmax,
/// weighted sum of v. Layouts are those a fused QKV projection produces, so no permutes are needed:
/// q, out [B, T, Hq, D]; k, v [B, T, Hkv, D]. Grouped-query heads: query head h reads kv head
/// h / (Hq / Hkv). The forward saves lse [B, Hq, T] = log Σ_s exp(score_s) per query; the backward
/// recomputes each probability as exp(score − lse), the contract the GPU's flash kernel shares.
/// </summary>
public static class AttentionCpu
{
    public static void Forward(float[] q, float[] k, float[] v, float[] output, float[] lse,
        int batch, int steps, int qHeads, int kvHeads, int headDim)
    {
        int T = steps, D = headDim, group = qHeads / kvHeads;
        float scale = 1f / MathF.Sqrt(D);
        RowParallel.For(batch * qHeads, (long)T * T * D, bh =>
        {
            int b = bh / qHeads, h = bh % qHeads, hk = h / group;
            var scores = new float[T];
            for (int t = 0; t < T; t++)
            {
                var qt = q.AsSpan(((b * T + t) * qHeads + h) * D, D);
                for (int s = 0; s <= t; s++)                        // the causal mask: s ≤ t only
                    scores[s] = Dot(qt, k.AsSpan(((b * T + s) * kvHeads + hk) * D, D)) * scale;
                float max = float.NegativeInfinity;
                for (int s = 0; s <= t; s++) max = MathF.Max(max, scores[s]);
                double sum = 0;
                for (int s = 0; s <= t; s++) sum += MathF.Exp(scores[s] - max);
                float logSumExp = max + (float)Math.Log(sum);
                lse[bh * T + t] = logSumExp;
                var ot = output.AsSpan(((b * T + t) * qHeads + h) * D, D);
                ot.Clear();
                for (int s = 0; s <= t; s++)
                {
                    float p = MathF.Exp(scores[s] - logSumExp);
                    var vs = v.AsSpan(((b * T + s) * kvHeads + hk) * D, D);
                    for (int d = 0; d < D; d++) ot[d] += p * vs[d];
                }
            }
        });
    }

    static float Dot(ReadOnlySpan<float> a, ReadOnlySpan<float> b)
    {
        float s = 0;
        for (int i = 0; i < a.Length; i++) s += a[i] * b[i];
        return s;
    }

    /// <summary>
    /// With P = exp(S − lse):  dP = dout·vᵀ;  dv += Pᵀ·dout;  dS = P ⊙ (dP − rowsum(P ⊙ dP)), where
    /// rowsum(P ⊙ dP) = dout·output;
    /// dq += dS·k/√D;  dk += dSᵀ·q/√D. Work is split by (batch, kv head) so the query heads that
    /// share a kv head never race on dk, dv.
    /// </summary>
    public static void Backward(float[] q, float[] k, float[] v, float[] output, float[] lse, float[] dout,
        float[] dq, float[] dk, float[] dv, int batch, int steps, int qHeads, int kvHeads, int headDim)
    {
        int T = steps, D = headDim, group = qHeads / kvHeads;
        float scale = 1f / MathF.Sqrt(D);
        RowParallel.For(batch * kvHeads, (long)group * T * T * D, bk =>
        {
            int b = bk / kvHeads, hk = bk % kvHeads;
            var p = new float[T];
            var dp = new float[T];
            for (int h = hk * group; h < (hk + 1) * group; h++)
            {
                int bh = b * qHeads + h;
                for (int t = 0; t < T; t++)
                {
                    int qo = ((b * T + t) * qHeads + h) * D;
                    var qt = q.AsSpan(qo, D);
                    var dot = dout.AsSpan(qo, D);
                    float rowDot = Dot(dot, output.AsSpan(qo, D));
                    for (int s = 0; s <= t; s++)
                    {
                        int ko = ((b * T + s) * kvHeads + hk) * D;
                        p[s] = MathF.Exp(Dot(qt, k.AsSpan(ko, D)) * scale - lse[bh * T + t]);
                        dp[s] = Dot(dot, v.AsSpan(ko, D));
                        for (int d = 0; d < D; d++) dv[ko + d] += p[s] * dot[d];
                    }
                    for (int s = 0; s <= t; s++)
                    {
                        float ds = p[s] * (dp[s] - rowDot) * scale;
                        int ko = ((b * T + s) * kvHeads + hk) * D;
                        for (int d = 0; d < D; d++)
                        {
                            dq[qo + d] += ds * k[ko + d];
                            dk[ko + d] += ds * q[qo + d];
                        }
                    }
                }
            }
        });
    }

    /// <summary>cache[b, positions[b·T+t], :] = x[b, t, :].</summary>
    public static void CacheWrite(float[] x, float[] cache, int[] positions, int batch, int steps, int maxSteps, int cols)
    {
        for (int b = 0; b < batch; b++)
            for (int t = 0; t < steps; t++)
                x.AsSpan((b * steps + t) * cols, cols).CopyTo(cache.AsSpan((b * maxSteps + positions[b * steps + t]) * cols, cols));
    }

    /// <summary>
    /// New queries against the cache: query (b, t) at position p = positions[b·T+t] attends to cache
    /// entries 0..p — the same scores, mask and softmax as <see cref="Forward"/>, without saving probs.
    /// </summary>
    public static void Cached(float[] q, float[] kCache, float[] vCache, float[] output, int[] positions,
        int batch, int steps, int maxSteps, int qHeads, int kvHeads, int headDim)
    {
        int D = headDim, group = qHeads / kvHeads;
        float scale = 1f / MathF.Sqrt(D);
        RowParallel.For(batch * qHeads, (long)steps * maxSteps * D, bh =>
        {
            int b = bh / qHeads, h = bh % qHeads, hk = h / group;
            var scores = new float[maxSteps];
            for (int t = 0; t < steps; t++)
            {
                int p = positions[b * steps + t];
                var qt = q.AsSpan(((b * steps + t) * qHeads + h) * D, D);
                for (int s = 0; s <= p; s++)
                {
                    var ks = kCache.AsSpan(((b * maxSteps + s) * kvHeads + hk) * D, D);
                    float dot = 0;
                    for (int d = 0; d < D; d++) dot += qt[d] * ks[d];
                    scores[s] = dot * scale;
                }
                var probs = scores.AsSpan(0, p + 1);
                Softmax.SoftmaxCpu.Row(probs, probs);
                var ot = output.AsSpan(((b * steps + t) * qHeads + h) * D, D);
                ot.Clear();
                for (int s = 0; s <= p; s++)
                {
                    var vs = vCache.AsSpan(((b * maxSteps + s) * kvHeads + hk) * D, D);
                    for (int d = 0; d < D; d++) ot[d] += probs[s] * vs[d];
                }
            }
        });
    }
}
