namespace Engine.Kernels.RL;

/// <summary>KL estimators (Schulman's k1, k2, k3) — the kernels' integer codes mirror Engine.RL.KlEstimator.</summary>
public enum KlKind { K1 = 0, K2 = 1, K3 = 2 }

/// <summary>Sequence-level advantage estimators computed per group of responses to one prompt.</summary>
public enum GroupKind { Grpo = 0, DrGrpo = 1, Rloo = 2, ReinforcePlusPlusBaseline = 3 }

/// <summary>Per-row outputs of the fused policy-loss kernel, in this order in a [N, Count] buffer.</summary>
public static class FusedStats
{
    public const int Logp = 0, PolicyLoss = 1, Clipped = 2, ApproxKl = 3, Kl = 4, Entropy = 5, Count = 6;
}

/// <summary>The fused kernel's scalars in one by-value struct.</summary>
public readonly record struct FusedPolicyParams(float Temperature, float ClipLow, float ClipHigh, float DualClip,
    float KlCoef, float EntropyCoef, int HasRef);
