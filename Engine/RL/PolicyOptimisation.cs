using Engine.Autograd;
using Engine.Distributed;
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
    /// <summary>Data-parallel (under mpirun): the gradient all-reduce; null in one process.</summary>
    readonly GradientAllReduce? sync = Dist.World is { Size: > 1 } world ? new(world, optimizer.Parameters) : null;

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
                FusedLossResult res;
                if (sync is null)
                {
                    var logits = policy.Forward(Rollouts.Gather(inputs, rows, T), m, T);             // [m, T, V]
                    (var loss, res) = Ops.PolicyLoss(logits, Rollouts.Gather(targets, rows, T),
                        Rollouts.Gather(oldLogp, rows, T), Rollouts.Gather(advantages, rows, T), rowMask,
                        refLogp is null ? null : Rollouts.Gather(refLogp, rows, T), m, T, fo);
                    Finite(res.Loss, "policy loss", step, lastCheckpoint);
                    loss.Backward();
                }
                else
                {
                    res = SharedStep(sync, rows, rowMask, inputs, targets, mask, oldLogp, advantages, refLogp, T, fo,
                        step);
                    Finite(res.Loss, "policy loss", step, lastCheckpoint);
                }
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

    /// <summary>
    /// One minibatch across the ranks: every rank holds the whole batch and computes the loss of its contiguous share
    /// of the minibatch's rows, weighted so that the ranks' losses sum to one process's over the minibatch —
    /// token-mean: over the minibatch's token count; the per-sequence means: times this rank's share of the rows.
    /// The figures (loss, clip fraction, ...) come back summed with the gradients in one all-reduce.
    /// </summary>
    FusedLossResult SharedStep(GradientAllReduce all, int[] rows, float[] rowMask, int[] inputs, int[] targets,
        float[] mask, float[] oldLogp, float[] advantages, float[]? refLogp, int T, FusedLossOptions fo, int step)
    {
        var (first, count) = Shard.Mine(rows.Length);
        var mine = rows[first..(first + count)];
        float[] myMask = Rollouts.Gather(mask, mine, T);
        float tokens = myMask.Sum(), allTokens = rowMask.Sum();
        var figures = new float[6];
        if (tokens > 0)
        {
            bool tokenMean = fo.Aggregation == LossAggregation.TokenMean;
            float rowShare = tokenMean ? 1f : (float)count / rows.Length, tokenShare = tokens / allTokens;
            var logits = policy.Forward(Rollouts.Gather(inputs, mine, T), count, T);
            var (loss, res) = Ops.PolicyLoss(logits, Rollouts.Gather(targets, mine, T),
                Rollouts.Gather(oldLogp, mine, T), Rollouts.Gather(advantages, mine, T), myMask,
                refLogp is null ? null : Rollouts.Gather(refLogp, mine, T), count, T, fo,
                tokenDenominator: tokenMean ? allTokens : 0f);
            (rowShare == 1f ? loss : Ops.Scale(loss, rowShare)).Backward();
            figures = [res.Loss * rowShare, res.PolicyLoss * rowShare, res.ClipFraction * tokenShare,
                res.ApproxKl * tokenShare, res.Kl * rowShare, res.Entropy * rowShare];
        }
        var sum = all.Run(figures, $"the gradient all-reduce of step {step}");
        return new FusedLossResult(sum[0], sum[1], sum[4], sum[5], sum[2], sum[3], []);
    }

    void Finite(float value, string what, int step, string? lastCheckpoint)
    {
        if (float.IsFinite(value)) return;
        throw new InvalidOperationException($"{verb}: the {what} became {value} at step {step}; " +
            (lastCheckpoint is null ? "no checkpoint was written yet" : $"the last good checkpoint is {lastCheckpoint}") +
            "; try a lower --lr");
    }
}
