namespace Engine.Generation;

/// <summary>How to pick the next token. Temperature 0 is greedy. ThinkMin/ThinkMax bound the thinking (−1: no maximum);
/// ThinkWait, with ThinkMin, is written in place of an end of thinking drawn too early (s1's "Wait").</summary>
public sealed record SamplingOptions(int MaxNewTokens = 64, float Temperature = 1f, int TopK = 0, float TopP = 1f, string[]? Stop = null,
    int ThinkMin = 0, int ThinkMax = -1, string? ThinkWait = null)
{
    public bool ForcesBudget => ThinkMin > 0 || ThinkMax >= 0;

    public void Validate()
    {
        if (MaxNewTokens < 1) throw new ArgumentException($"sampling: max new tokens must be >= 1, got {MaxNewTokens}");
        if (!(Temperature >= 0) || !float.IsFinite(Temperature))
            throw new ArgumentException($"sampling: temperature must be >= 0, got {Temperature}");
        if (TopK < 0) throw new ArgumentException($"sampling: top-k must be >= 0 (0 = off), got {TopK}");
        if (!(TopP > 0 && TopP <= 1)) throw new ArgumentException($"sampling: top-p must be in (0, 1], got {TopP}");
        if (ThinkMin < 0) throw new ArgumentException($"sampling: --think-min must be >= 0, got {ThinkMin}");
        if (ThinkMax < -1 || (ThinkMax >= 0 && ThinkMax < ThinkMin))
            throw new ArgumentException($"sampling: --think-max must be >= --think-min ({ThinkMin}), got {ThinkMax}");
        if (ThinkWait is not null && (ThinkWait.Length == 0 || ThinkMin == 0))
            throw new ArgumentException("sampling: --think-wait needs a non-empty text and --think-min > 0");
    }
}

/// <summary>
/// Picks one token from a row of logits: temperature, then top-k, then top-p (nucleus), then a
/// seeded draw. The returned log-probability is that of the token under softmax(logits / T) —
/// before top-k/top-p, the distribution the RL losses use (temperature 1 when greedy).
/// </summary>
public static class Sampler
{
    public static (int Token, float Logprob) Sample(ReadOnlySpan<float> logits, SamplingOptions o, Rng rng) =>
        Sample(logits, o, o.Temperature > 0 ? rng.NextDouble() : 0);

    /// <summary>The same with the draw's uniform given (one the caller took from the run's generator).</summary>
    public static (int Token, float Logprob) Sample(ReadOnlySpan<float> logits, SamplingOptions o, double uniform)
    {
        int V = logits.Length;
        float t = o.Temperature > 0 ? o.Temperature : 1f;
        var logp = new double[V];
        double max = double.NegativeInfinity;
        for (int i = 0; i < V; i++) max = Math.Max(max, logits[i] / t);
        double sum = 0;
        for (int i = 0; i < V; i++) sum += Math.Exp(logits[i] / t - max);
        double lse = max + Math.Log(sum);
        for (int i = 0; i < V; i++) logp[i] = logits[i] / t - lse;

        if (o.Temperature <= 0)
        {
            int best = 0;
            for (int i = 1; i < V; i++) if (logits[i] > logits[best]) best = i;
            return (best, (float)logp[best]);
        }

        // Candidates by descending probability; cut by top-k and top-p, then draw.
        int[] order = Enumerable.Range(0, V).ToArray();
        Array.Sort(order, (a, b) => logp[b].CompareTo(logp[a]) is var c && c != 0 ? c : a.CompareTo(b));
        int keep = o.TopK > 0 ? Math.Min(o.TopK, V) : V;
        if (o.TopP < 1f)
        {
            double cumulative = 0;
            for (int i = 0; i < keep; i++)
            {
                cumulative += Math.Exp(logp[order[i]]);
                if (cumulative >= o.TopP) { keep = i + 1; break; }
            }
        }
        double mass = 0;
        for (int i = 0; i < keep; i++) mass += Math.Exp(logp[order[i]]);
        double u = uniform * mass, acc = 0;
        for (int i = 0; i < keep; i++)
        {
            acc += Math.Exp(logp[order[i]]);
            if (u < acc) return (order[i], (float)logp[order[i]]);
        }
        return (order[keep - 1], (float)logp[order[keep - 1]]);
    }
}
