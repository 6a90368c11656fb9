using Engine.Kernels;
using Engine.Kernels.RL;

namespace Engine.RL;

public enum KlEstimator { K1, K2, K3 }
public enum LossAggregation { TokenMean, SeqMeanTokenMean, SeqMeanTokenSum, SeqMeanTokenSumNorm }
public enum AdvantageEstimator { Grpo, DrGrpo, Rloo, ReinforcePlusPlusBaseline }
/// <summary>Over what the GRPO std is taken (TRL's scale_rewards = group | batch).</summary>
public enum StdScope { Group, Batch }

/// <summary>DualClip = 0 is off; MaxResponseLength is SeqMeanTokenSumNorm's T_max (0 = the steps given).</summary>
public record PolicyLossOptions(float ClipLow = 0.2f, float ClipHigh = 0.2f, float DualClip = 0f,
    LossAggregation Aggregation = LossAggregation.TokenMean, int MaxResponseLength = 0);

public record PolicyLossResult(float Loss, float[] GradLogp, float ClipFraction, float ApproxKl);

/// <summary>
/// The RL layer's host API (docs/rl-math.md is the contract): host arrays in, host arrays out,
/// the work on the given backend's kernels. Arrays are row-major [batch, steps]. Bad sizes throw an
/// ArgumentException that names the parameter.
/// </summary>
public static class RlMath
{
    static DeviceBuffer Up(IBackend b, float[] x)
    {
        var d = b.Allocate(x.Length);
        d.CopyFrom(x);
        return d;
    }

    static void Need(bool ok, string param, string message)
    {
        if (!ok) throw new ArgumentException($"rl: {param}: {message}", param);
    }

    static void Shape(int batch, int steps, params (string Name, float[] Array)[] arrays)
    {
        Need(batch >= 0 && steps >= 0, "batch", $"batch and steps must be >= 0, got {batch} and {steps}");
        foreach (var (name, a) in arrays)
            Need(a.Length == batch * steps, name, $"expected batch·steps = {batch}·{steps} = {batch * steps} values, got {a.Length}");
    }

    /// <summary>Masked GAE (advantages and returns), optionally whitening the advantages over unmasked tokens.</summary>
    public static (float[] Advantages, float[] Returns) Gae(IBackend b, float[] rewards, float[] values, float[] mask,
        int batch, int steps, float gamma, float lambda, bool whiten = false)
    {
        Shape(batch, steps, ("rewards", rewards), ("values", values), ("mask", mask));
        Need(gamma is >= 0 and <= 1, "gamma", $"expected a value in [0, 1], got {gamma}");
        Need(lambda is >= 0 and <= 1, "lambda", $"expected a value in [0, 1], got {lambda}");
        var adv = b.Allocate(batch * steps);
        var ret = b.Allocate(batch * steps);
        var m = Up(b, mask);
        b.Gae(Up(b, rewards), Up(b, values), m, adv, ret, batch, steps, gamma, lambda);
        float[] returns = ret.ToArray();           // returns use the raw advantages (A + V), before whitening
        if (whiten) b.MaskedWhiten(adv, m);
        return (adv.ToArray(), returns);
    }

    /// <summary>Sequence advantages from scores in consecutive groups of groupSize (see RlCpu.GroupAdvantages).</summary>
    public static float[] GroupAdvantages(IBackend b, float[] scores, int groupSize, AdvantageEstimator estimator, float epsilon = 1e-6f) =>
        GroupAdvantages(b, scores, groupSize, estimator, epsilon, StdScope.Group);

    /// <summary>
    /// As above, with the GRPO std over the group or the whole batch. REINFORCE++-baseline subtracts the
    /// group mean, then whitens over the batch's sequences (unbiased std); with per-token advantages,
    /// <see cref="Whiten"/> over the unmasked tokens is the token-weighted form.
    /// </summary>
    public static float[] GroupAdvantages(IBackend b, float[] scores, int groupSize, AdvantageEstimator estimator,
        float epsilon, StdScope scope)
    {
        Need(groupSize > 0, "groupSize", $"expected a positive group size, got {groupSize}");
        Need(scores.Length % groupSize == 0, "groupSize", $"{groupSize} does not divide the {scores.Length} scores");
        Need(epsilon >= 0, "epsilon", $"expected epsilon >= 0, got {epsilon}");
        var s = Up(b, scores);
        var adv = b.Allocate(scores.Length);
        bool batchStd = estimator == AdvantageEstimator.Grpo && scope == StdScope.Batch;
        var kind = estimator switch
        {
            AdvantageEstimator.Grpo => batchStd ? GroupKind.MeanCentred : GroupKind.Grpo,
            AdvantageEstimator.DrGrpo => GroupKind.MeanCentred,
            AdvantageEstimator.Rloo => GroupKind.Rloo,
            _ => GroupKind.ReinforcePlusPlusBaseline,
        };
        b.GroupAdvantages(s, adv, groupSize, kind, epsilon);
        var result = adv.ToArray();
        if (batchStd)
        {
            float std = StdUnbiased(scores);
            for (int i = 0; i < result.Length; i++) result[i] /= std + epsilon;
        }
        if (estimator == AdvantageEstimator.ReinforcePlusPlusBaseline && result.Length > 1)
            result = Whiten(b, result, Enumerable.Repeat(1f, result.Length).ToArray());
        return result;
    }

    /// <summary>Batch std for GRPO scaling: a batch of one has std 1 (as a group of one).</summary>
    static float StdUnbiased(float[] x) => x.Length < 2 ? 1f : Std(x);

    /// <summary>The unbiased standard deviation (0 for fewer than two values) — also the trainers' reward/std metric.</summary>
    public static float Std(IReadOnlyCollection<float> x)
    {
        if (x.Count < 2) return 0f;
        double mean = x.Average(v => (double)v);
        return (float)Math.Sqrt(x.Sum(v => (v - mean) * (v - mean)) / (x.Count - 1));
    }

    /// <summary>(x − mean)/√(var + 1e-8) with mean and unbiased var over the unmasked entries.</summary>
    public static float[] Whiten(IBackend b, float[] x, float[] mask)
    {
        Need(mask.Length == x.Length, "mask", $"expected {x.Length} values (as x), got {mask.Length}");
        var d = Up(b, x);
        b.MaskedWhiten(d, Up(b, mask));
        return d.ToArray();
    }

    /// <summary>One sequence-level value per row, copied to each of its unmasked tokens (masked tokens get 0).</summary>
    public static float[] BroadcastToTokens(float[] perSequence, float[] mask, int batch, int steps)
    {
        Shape(batch, steps, ("mask", mask));
        Need(perSequence.Length == batch, "perSequence", $"expected {batch} values, got {perSequence.Length}");
        var y = new float[batch * steps];
        for (int i = 0; i < y.Length; i++) y[i] = mask[i] != 0f ? perSequence[i / steps] : 0f;
        return y;
    }

    /// <summary>
    /// Per-token weights w with aggregated loss L = Σ w·loss: token-mean M/ΣM; seq-mean-token-mean
    /// M/(B·Σ_t M_b); seq-mean-token-sum M/B; seq-mean-token-sum-norm M/(B·T_max). Sequences with no
    /// unmasked token weigh 0. tokenDenominator overrides ΣM for token-mean (all micro-batches of a step).
    /// </summary>
    public static float[] AggregationWeights(float[] mask, int batch, int steps, LossAggregation mode,
        int maxResponseLength = 0, float tokenDenominator = 0f)
    {
        Shape(batch, steps, ("mask", mask));
        Need(maxResponseLength >= 0, "maxResponseLength", $"expected >= 0, got {maxResponseLength}");
        var w = new float[mask.Length];
        if (batch == 0) return w;
        float total = tokenDenominator > 0 ? tokenDenominator : mask.Sum();
        int tMax = maxResponseLength > 0 ? maxResponseLength : steps;
        for (int b = 0; b < batch; b++)
        {
            float rowCount = 0;
            for (int t = 0; t < steps; t++) rowCount += mask[b * steps + t];
            for (int t = 0; t < steps; t++)
            {
                int i = b * steps + t;
                w[i] = mask[i] == 0f ? 0f : mode switch
                {
                    LossAggregation.TokenMean => mask[i] / total,
                    LossAggregation.SeqMeanTokenMean => mask[i] / (batch * rowCount),
                    LossAggregation.SeqMeanTokenSum => mask[i] / batch,
                    _ => mask[i] / ((float)batch * tMax),
                };
            }
        }
        return w;
    }

    /// <summary>Σ w·values with the weights of <see cref="AggregationWeights"/>.</summary>
    public static float Aggregate(float[] values, float[] mask, int batch, int steps, LossAggregation mode, int maxResponseLength = 0)
    {
        Shape(batch, steps, ("values", values));
        var w = AggregationWeights(mask, batch, steps, mode, maxResponseLength);
        double s = 0;
        for (int i = 0; i < w.Length; i++) s += (double)w[i] * values[i];
        return (float)s;
    }

    /// <summary>The clipped policy loss, aggregated, with its gradient w.r.t. logp, the clip fraction and approx-KL
    /// (both over unmasked tokens).</summary>
    public static PolicyLossResult PolicyLoss(IBackend b, float[] logp, float[] oldLogp, float[] advantages, float[] mask,
        int batch, int steps, PolicyLossOptions options)
    {
        Shape(batch, steps, ("logp", logp), ("oldLogp", oldLogp), ("advantages", advantages), ("mask", mask));
        Need(options.ClipLow is >= 0 and < 1, "ClipLow", $"ε_low must be in [0, 1), got {options.ClipLow}");
        Need(options.ClipHigh >= 0, "ClipHigh", $"ε_high must be >= 0, got {options.ClipHigh}");
        Need(options.DualClip == 0 || options.DualClip > 1, "DualClip", $"dual clip must be 0 (off) or > 1, got {options.DualClip}");
        int n = batch * steps;
        var loss = b.Allocate(n); var grad = b.Allocate(n); var clipped = b.Allocate(n); var akl = b.Allocate(n);
        b.ClippedSurrogate(Up(b, logp), Up(b, oldLogp), Up(b, advantages), loss, grad, clipped, akl, options.ClipLow,
            options.ClipHigh, options.DualClip);
        var w = AggregationWeights(mask, batch, steps, options.Aggregation, options.MaxResponseLength);
        float[] l = loss.ToArray(), g = grad.ToArray(), c = clipped.ToArray(), k = akl.ToArray();
        double total = 0, clipSum = 0, klSum = 0, count = 0;
        var gradLogp = new float[n];
        for (int i = 0; i < n; i++)
        {
            total += (double)w[i] * l[i];
            gradLogp[i] = w[i] * g[i];
            if (mask[i] != 0f) { count++; clipSum += c[i]; klSum += k[i]; }
        }
        return new PolicyLossResult((float)total, gradLogp, count == 0 ? 0f : (float)(clipSum / count),
            count == 0 ? 0f : (float)(klSum / count));
    }

    /// <summary>The KL estimator per token.</summary>
    public static float[] Kl(IBackend b, float[] logp, float[] refLogp, KlEstimator estimator) => KlWithGrad(b, logp,
        refLogp, estimator).Kl;

    /// <summary>The KL estimator per token and its gradient w.r.t. logp.</summary>
    public static (float[] Kl, float[] Grad) KlWithGrad(IBackend b, float[] logp, float[] refLogp, KlEstimator estimator)
    {
        Need(refLogp.Length == logp.Length, "refLogp", $"expected {logp.Length} values (as logp), got {refLogp.Length}");
        var kl = b.Allocate(logp.Length);
        var grad = b.Allocate(logp.Length);
        var kind = estimator switch { KlEstimator.K1 => KlKind.K1, KlEstimator.K2 => KlKind.K2, _ => KlKind.K3 };
        b.Kl(Up(b, logp), Up(b, refLogp), kl, grad, kind);
        return (kl.ToArray(), grad.ToArray());
    }

    /// <summary>Entropy of softmax(logits / T) for each row of logits [rows, vocab].</summary>
    public static float[] Entropy(IBackend b, float[] logits, int rows, int vocab, float temperature = 1f)
    {
        Need(vocab > 0, "vocab", $"expected V > 0, got {vocab}");
        Need(logits.Length == rows * vocab, "logits", $"expected rows·V = {rows}·{vocab} values, got {logits.Length}");
        var h = b.Allocate(rows);
        b.Entropy(Up(b, logits), h, rows, vocab, temperature);
        return h.ToArray();
    }
}
