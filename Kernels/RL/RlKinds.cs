namespace Engine.Kernels.RL;

/// <summary>KL estimators (Schulman's k1, k2, k3), as the kernels compute them.</summary>
public enum KlKind { K1 = 0, K2 = 1, K3 = 2 }

/// <summary>
/// What the group kernel computes per group of responses to one prompt: GRPO's (s − mean)/(std + ε);
/// MeanCentred s − mean (Dr. GRPO, and GRPO whose std is then taken over the batch); RLOO's
/// leave-one-out baseline; REINFORCE++-baseline's s − mean (whitened over the batch afterwards).
/// </summary>
public enum GroupKind { Grpo = 0, MeanCentred = 1, Rloo = 2, ReinforcePlusPlusBaseline = 3 }

/// <summary>Per-row outputs of the fused policy-loss kernel, in this order in a [N, Count] buffer.</summary>
public static class FusedStats
{
    public const int Logp = 0, PolicyLoss = 1, Clipped = 2, ApproxKl = 3, Kl = 4, Entropy = 5, Count = 6;

    /// <summary>
    /// The kernel's per-row figures, reduced: Σ w·pg, Σ w·kl, Σ w·H with the aggregation weights, and the
    /// clipped share and mean approx-KL over rows with mask ≠ 0; plus each row's log-prob. Float64 sums in
    /// row order. Callers never see the layout.
    /// </summary>
    public static (double PolicyLoss, double Kl, double Entropy, double ClipFraction, double ApproxKl, float[] Logp) Reduce(
        float[] stats, float[] weights, float[] mask)
    {
        int n = weights.Length;
        double pg = 0, kl = 0, entropy = 0, clipped = 0, approxKl = 0, count = 0;
        var logp = new float[n];
        for (int i = 0; i < n; i++)
        {
            int o = i * Count;
            logp[i] = stats[o + Logp];
            pg += weights[i] * stats[o + PolicyLoss];
            kl += weights[i] * stats[o + Kl];
            entropy += weights[i] * stats[o + Entropy];
            if (mask[i] != 0f) { count++; clipped += stats[o + Clipped]; approxKl += stats[o + ApproxKl]; }
        }
        return (pg, kl, entropy, count == 0 ? 0 : clipped / count, count == 0 ? 0 : approxKl / count, logp);
    }
}

/// <summary>The fused kernel's scalars in one by-value struct.</summary>
public readonly record struct FusedPolicyParams(float Temperature, float ClipLow, float ClipHigh, float DualClip,
    float KlCoef, float EntropyCoef, int HasRef);
