using Engine.Autograd;
using Engine.Model;
using Engine.Training;

namespace Engine.RL;

/// <summary>What one optimisation stage did: the policy-loss figures averaged over its updates, the last gradient norm.</summary>
public sealed record PolicyUpdateStats(float PolicyLoss, float ClipFraction, float ApproxKl, float Kl, float Entropy, float GradNorm,
    int Updates);

/// <summary>
/// The optimisation stage GRPO and PPO share: `epochs` passes over a packed batch of M sequences of T
/// tokens, each pass shuffled and cut into `minibatches`; per minibatch one optimiser step on the
/// fused clipped objective (<see cref="FusedPolicy"/>), gradient clipping, AdamW. PPO's critic takes
/// its step on the same minibatch through <paramref name="afterUpdate"/>. A NaN or infinite loss or
/// gradient norm stops the run with a message naming the last good checkpoint.
/// </summary>
public sealed class PolicyOptimisation(string verb, Transformer policy, AdamW optimizer, Rng rng, float clip)
{
    public PolicyUpdateStats Run(int step, float lr, int[] inputs, int[] targets, float[] mask, int M, int T, float[] oldLogp,
        float[] advantages, float[]? refLogp, FusedLossOptions fo, int epochs, int minibatches, string? lastCheckpoint,
        Action<int[], float[]>? afterUpdate = null)
    {
        var order = Enumerable.Range(0, M).ToArray();
        int size = (M + minibatches - 1) / minibatches;
        double policyLoss = 0, clipFrac = 0, approxKl = 0, kl = 0, entropy = 0;
        float gradNorm = 0;
        int updates = 0;
        for (int epoch = 0; epoch < epochs; epoch++)
        {
            rng.Shuffle(order);
            for (int start = 0; start < M; start += size)
            {
                var rows = order[start..Math.Min(M, start + size)];
                int m = rows.Length;
                float[] rowMask = Rollouts.Gather(mask, rows, T);
                if (rowMask.Sum() == 0) continue;
                optimizer.ZeroGrad();
                var logits = policy.Forward(Rollouts.Gather(inputs, rows, T), m, T);                 // [m, T, V]
                var (loss, res) = Ops.PolicyLoss(logits, Rollouts.Gather(targets, rows, T), Rollouts.Gather(oldLogp, rows, T),
                    Rollouts.Gather(advantages, rows, T), rowMask, refLogp is null ? null : Rollouts.Gather(refLogp, rows, T),
                    m, T, fo);
                Finite(res.Loss, "policy loss", step, lastCheckpoint);
                loss.Backward();
                gradNorm = GradClip.ClipGlobalNorm(optimizer.Parameters, clip);
                Finite(gradNorm, "gradient norm", step, lastCheckpoint);
                optimizer.Update(lr);
                afterUpdate?.Invoke(rows, rowMask);
                policyLoss += res.PolicyLoss; clipFrac += res.ClipFraction; approxKl += res.ApproxKl;
                kl += res.Kl; entropy += res.Entropy;
                updates++;
            }
        }
        int u = Math.Max(1, updates);
        return new PolicyUpdateStats((float)(policyLoss / u), (float)(clipFrac / u), (float)(approxKl / u), (float)(kl / u),
            (float)(entropy / u), gradNorm, updates);
    }

    void Finite(float value, string what, int step, string? lastCheckpoint)
    {
        if (float.IsFinite(value)) return;
        throw new InvalidOperationException($"{verb}: the {what} became {value} at step {step}; " +
            (lastCheckpoint is null ? "no checkpoint was written yet" : $"the last good checkpoint is {lastCheckpoint}") +
            "; try a lower --lr");
    }
}
