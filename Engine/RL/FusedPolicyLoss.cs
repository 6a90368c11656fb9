using Engine.Kernels;
using Engine.Kernels.RL;

namespace Engine.RL;

/// <summary>β (KlCoef) weighs the k3 KL to the reference (no reference needed at 0); EntropyCoef the entropy bonus.</summary>
public record FusedLossOptions(float Temperature = 1f, float ClipLow = 0.2f, float ClipHigh = 0.2f, float DualClip = 0f,
    float KlCoef = 0f, float EntropyCoef = 0f, LossAggregation Aggregation = LossAggregation.TokenMean, int MaxResponseLength = 0);

/// <summary>What one fused pass gives back: the aggregated loss and the per-token figures the trainers log.</summary>
public sealed record FusedLossResult(float Loss, float PolicyLoss, float Kl, float Entropy, float ClipFraction,
    float ApproxKl, float[] Logp);

/// <summary>
/// The trainers' entry to the fused logits kernel: logits [N, V] (N = batch·steps, on the device),
/// the sampled ids, old log-probs, advantages and mask; dlogits of the aggregated loss
/// Σ w·(pg + β·kl − c·H) is written into dlogits on the device, and the figures come back.
/// </summary>
public static class FusedPolicy
{
    public static FusedLossResult Run(IBackend b, DeviceBuffer logits, DeviceBuffer dlogits, int[] ids, float[] oldLogp, float[] advantages,
        float[] mask, float[]? refLogp, int batch, int steps, int vocab, FusedLossOptions o, float tokenDenominator = 0f)
    {
        int n = batch * steps;
        if (vocab <= 0) throw new ArgumentException($"rl: vocab: expected V > 0, got {vocab}", nameof(vocab));
        foreach (var (name, a) in new[] { ("oldLogp", oldLogp), ("advantages", advantages), ("mask", mask) })
            if (a.Length != n) throw new ArgumentException($"rl: {name}: expected batch·steps = {n} values, got {a.Length}", name);
        if (o.KlCoef != 0 && refLogp is null)
            throw new ArgumentException("rl: refLogp: a KL coefficient needs the reference log-probs", nameof(refLogp));
        var w = RlMath.AggregationWeights(mask, batch, steps, o.Aggregation, o.MaxResponseLength, tokenDenominator);
        DeviceBuffer Up(float[] x) { var d = b.Allocate(x.Length); d.CopyFrom(x); return d; }
        var stats = b.Allocate(n * FusedStats.Count);
        bool useRef = refLogp is not null && o.KlCoef != 0;
        var p = new FusedPolicyParams(o.Temperature, o.ClipLow, o.ClipHigh, o.DualClip, o.KlCoef, o.EntropyCoef, useRef ? 1 : 0);
        b.FusedPolicyLoss(logits, ids, Up(oldLogp), Up(advantages), Up(w), useRef ? Up(refLogp!) : null, dlogits, stats, n, vocab, p);
        var (pg, kl, ent, clip, akl, logp) = FusedStats.Reduce(stats.ToArray(), w, mask);
        float loss = (float)(pg + o.KlCoef * kl - o.EntropyCoef * ent);
        return new FusedLossResult(loss, (float)pg, (float)kl, (float)ent, (float)clip, (float)akl, logp);
    }
}
