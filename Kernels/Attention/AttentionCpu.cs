namespace Engine.Kernels.Attention;

/// <summary>
/// The plain causal self-attention, as the math reads: scores = q·kᵀ/√D, causal mask, softmax,
/// weighted sum of v. Layouts are those a fused QKV projection produces, so no permutes are needed:
/// q, out [B, T, Hq, D]; k, v [B, T, Hkv, D]; probs [B, Hq, T, T] (zero above the diagonal), saved
/// for the backward. Grouped-query heads: query head h reads kv head h / (Hq / Hkv).
/// </summary>
public static class AttentionCpu
{
    public static void Forward(float[] q, float[] k, float[] v, float[] output, float[] probs,
        int batch, int steps, int qHeads, int kvHeads, int headDim)
    {
        int T = steps, D = headDim, group = qHeads / kvHeads;
        float scale = 1f / MathF.Sqrt(D);
        Rows.For(batch * qHeads, (long)T * T * D, bh =>
        {
            int b = bh / qHeads, h = bh % qHeads, hk = h / group;
            var scores = new float[T];
            for (int t = 0; t < T; t++)
            {
                var qt = q.AsSpan(((b * T + t) * qHeads + h) * D, D);
                var pRow = probs.AsSpan((bh * T + t) * T, T);
                for (int s = 0; s <= t; s++)
                {
                    var ks = k.AsSpan(((b * T + s) * kvHeads + hk) * D, D);
                    float dot = 0;
                    for (int d = 0; d < D; d++) dot += qt[d] * ks[d];
                    scores[s] = dot * scale;
                }
                Softmax.SoftmaxCpu.Row(scores.AsSpan(0, t + 1), pRow.Slice(0, t + 1));
                pRow.Slice(t + 1).Clear();                           // the causal mask: future steps get 0
                var ot = output.AsSpan(((b * T + t) * qHeads + h) * D, D);
                ot.Clear();
                for (int s = 0; s <= t; s++)
                {
                    float p = pRow[s];
                    var vs = v.AsSpan(((b * T + s) * kvHeads + hk) * D, D);
                    for (int d = 0; d < D; d++) ot[d] += p * vs[d];
                }
            }
        });
    }

    /// <summary>
    /// dP = dout·vᵀ;  dv += Pᵀ·dout;  dS = P ⊙ (dP − rowsum(P ⊙ dP));  dq += dS·k/√D;  dk += dSᵀ·q/√D.
    /// Work is split by (batch, kv head) so the query heads that share a kv head never race on dk, dv.
    /// </summary>
    public static void Backward(float[] q, float[] k, float[] v, float[] probs, float[] dout,
        float[] dq, float[] dk, float[] dv, int batch, int steps, int qHeads, int kvHeads, int headDim)
    {
        int T = steps, D = headDim, group = qHeads / kvHeads;
        float scale = 1f / MathF.Sqrt(D);
        Rows.For(batch * kvHeads, (long)group * T * T * D, bk =>
        {
            int b = bk / kvHeads, hk = bk % kvHeads;
            var dp = new float[T];
            for (int h = hk * group; h < (hk + 1) * group; h++)
            {
                int bh = b * qHeads + h;
                for (int t = 0; t < T; t++)
                {
                    var pRow = probs.AsSpan((bh * T + t) * T, T);
                    int qo = ((b * T + t) * qHeads + h) * D;
                    var dot = dout.AsSpan(qo, D);
                    double rowDot = 0;
                    for (int s = 0; s <= t; s++)
                    {
                        int ko = ((b * T + s) * kvHeads + hk) * D;
                        float acc = 0;
                        for (int d = 0; d < D; d++)
                        {
                            acc += dot[d] * v[ko + d];
                            dv[ko + d] += pRow[s] * dot[d];
                        }
                        dp[s] = acc;
                        rowDot += pRow[s] * acc;
                    }
                    for (int s = 0; s <= t; s++)
                    {
                        float ds = pRow[s] * (dp[s] - (float)rowDot) * scale;
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
        Rows.For(batch * qHeads, (long)steps * maxSteps * D, bh =>
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
