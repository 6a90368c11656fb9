namespace Engine.Kernels.Sampling;

/// <summary>
/// Drawing the next token of each row from logits [B, V], the reference for the device sampler. Per row:
/// softmax(logits / T); greedy at T = 0 (the first largest logit); otherwise the kept set — the top-k
/// tokens, then, within them, the most likely tokens whose probability mass first reaches top-p (ties at a
/// cut are kept together) — and the token where u · (kept mass) falls when the kept probabilities are laid
/// out in vocabulary order. u is the row's uniform draw in [0, 1). The log-probability returned is the
/// token's under the full softmax(logits / T) (T = 1 when greedy), as the RL losses use.
/// Unlike the host sampler (Engine.Generation.Sampler, which walks tokens by descending probability), no
/// sort is needed: the cuts are found by bisection over the logits' bit patterns, which a GPU does in a
/// few passes over the row. Both draw from the same distribution; the same u picks different tokens.
/// </summary>
public static class SamplingCpu
{
    /// <summary>A uint that orders like the float: bisection over it finds an exact element value.</summary>
    public static uint Key(float f)
    {
        int bits = BitConverter.SingleToInt32Bits(f);
        return bits >= 0 ? (uint)bits | 0x80000000u : ~(uint)bits;
    }

    public static void Sample(float[] logits, float[] uniforms, float[] tokens, float[] logprobs, int rows, int vocab,
        float temperature, int topK, float topP)
    {
        RowParallel.For(rows, 8L * vocab, r =>
        {
            var (token, logp) = SampleRow(logits.AsSpan(r * vocab, vocab), uniforms[r], temperature, topK, topP);
            tokens[r] = token;
            logprobs[r] = logp;
        });
    }

    public static (int Token, float Logprob) SampleRow(ReadOnlySpan<float> x, float u, float temperature, int topK, float topP)
    {
        int V = x.Length;
        float T = temperature > 0 ? temperature : 1f;
        float max = float.NegativeInfinity;
        for (int i = 0; i < V; i++) max = MathF.Max(max, x[i] / T);
        float sum = 0f;
        for (int i = 0; i < V; i++) sum += MathF.Exp(x[i] / T - max);
        float lse = max + MathF.Log(sum);
        if (temperature <= 0)
        {
            int best = 0;
            for (int i = 1; i < V; i++) if (x[i] > x[best]) best = i;
            return (best, x[best] - lse);
        }
        // The cut: the largest key K whose tokens (key ≥ K) still number top-k, then still weigh top-p.
        uint cut = 0;
        if (topK > 0 && topK < V)
            for (int bit = 31; bit >= 0; bit--)
            {
                uint candidate = cut | (1u << bit);
                int count = 0;
                for (int i = 0; i < V; i++) if (Key(x[i]) >= candidate) count++;
                if (count >= topK) cut = candidate;
            }
        if (topP < 1f)
        {
            uint massCut = 0;
            for (int bit = 31; bit >= 0; bit--)
            {
                uint candidate = massCut | (1u << bit);
                float mass = 0f;
                for (int i = 0; i < V; i++) if (Key(x[i]) >= candidate) mass += MathF.Exp(x[i] / T - max) / sum;
                if (mass >= topP) massCut = candidate;
            }
            cut = Math.Max(cut, massCut);
        }
        float kept = 0f;
        for (int i = 0; i < V; i++) if (Key(x[i]) >= cut) kept += MathF.Exp(x[i] / T - max);
        float target = u * kept, acc = 0f;
        int last = 0;
        for (int i = 0; i < V; i++)
        {
            if (Key(x[i]) < cut) continue;
            acc += MathF.Exp(x[i] / T - max);
            last = i;
            if (target < acc) return (i, x[i] / T - lse);
        }
        return (last, x[last] / T - lse);
    }
}
