using System.Diagnostics;
using System.Text.Json.Nodes;
using Engine.Autograd;
using Engine.Checkpoints;
using Engine.Distributed;
using Engine.Generation;
using Engine.Kernels;
using Engine.Model;
using Engine.Rewards;
using Engine.Tasks;
using Engine.Tokenizers;
using Engine.Training;

namespace Engine.RL;

public sealed record PpoOptions
{
    public int Steps { get; init; } = 100;
    public int Prompts { get; init; } = 32;
    public int MaxNewTokens { get; init; } = 32;
    public float Temperature { get; init; } = 1f;
    public float Lr { get; init; } = 1e-4f;
    public float CriticLr { get; init; } = 1e-4f;
    public int Warmup { get; init; } = 10;
    public float Clip { get; init; } = 1f;
    public float ClipRange { get; init; } = 0.2f;
    public float ClipRangeValue { get; init; } = 0.2f;
    public float VfCoef { get; init; } = 0.5f;
    public float KlCoef { get; init; } = 0.05f;
    public KlEstimator KlEstimator { get; init; } = KlEstimator.K1;
    public float KlTarget { get; init; }                  // > 0: adaptive coefficient (Ziegler et al.)
    public float Gamma { get; init; } = 1f;
    public float Lambda { get; init; } = 0.95f;
    public int PpoEpochs { get; init; } = 2;
    public int MiniBatches { get; init; } = 2;
    public float EntropyCoef { get; init; }
    public float MissingEosPenalty { get; init; }         // added to the score of a completion that hit the budget
    public int LogEvery { get; init; } = 10;
    public int SaveEvery { get; init; }
    public int Seed { get; init; } = 1;
    public string Out { get; init; } = "runs/ppo";
}

/// <summary>
/// RLHF-style PPO (Ouyang et al.; Ziegler et al.), as TRL/verl run it: per step, sample completions,
/// score them (a reward model or verifiable rewards), place the score on the last response token and
/// the KL penalty to the frozen reference on every token, GAE with the critic's values, whitened
/// advantages, then PpoEpochs × MiniBatches of the clipped policy loss (fused kernel) and the
/// clipped value loss on the critic.
/// </summary>
public sealed class PpoTrainer(Transformer policy, Transformer reference, Transformer critic, ITokenizer tokenizer, IReasoningTask task,
    IReadOnlyList<Problem> train, RewardSet? rewards, IRewardScorer? rewardModel, AdamW policyOptimizer,
        AdamW criticOptimizer, Rng rng, PpoOptions o)
{
    readonly IBackend be = policy.Backend;
    readonly AccuracyReward accuracy = new(task);
    float beta = o.KlCoef;
    readonly PolicyOptimisation optimisation = new("ppo", policy, policyOptimizer, rng, o.Clip);
    /// <summary>Data-parallel (under mpirun): the critic's gradient all-reduce; null in one process.</summary>
    readonly GradientAllReduce? criticSync =
        Dist.World is { Size: > 1 } world ? new(world, criticOptimizer.Parameters) : null;

    /// <summary>Warnings of a collapsed run (accuracy or score fallen to 0), for the summary.</summary>
    public IReadOnlyList<string> Warnings => collapse.Warnings;
    readonly CollapseWatch collapse = new("ppo", "accuracy", "reward/mean");

    public IReadOnlyList<Dictionary<string, object>> Train(int startStep = 0)
    {
        var rows = new List<Dictionary<string, object>>();
        var schedule = new LrSchedule(1f, o.Warmup, o.Steps, MinRatio: 1f);
        using var run = new RunFolder(o.Out, resumeStep: startStep);
        string? lastCheckpoint = null;
        Progress.Run("ppo", startStep, o.Steps, o.LogEvery, report =>
        {
            for (int step = startStep; step < o.Steps; step++)
            {
                var row = Step(step, schedule.At(step), lastCheckpoint);
                run.Log(row);
                rows.Add(row);
                collapse.Observe(step, row);
                int next = step + 1;
                lastCheckpoint = StepCheckpoint.After(step, o.Steps, o.SaveEvery,
                    () => Save(Path.Combine(o.Out, $"checkpoint-{next}"), next)) ?? lastCheckpoint;
                report(step, $"score {row["reward/mean"]:F3} acc {row["accuracy"]:F3} kl {row["kl"]:F4} value loss {row["loss/value"]:F4}");
            }
        });
        Save(Path.Combine(o.Out, "final"), o.Steps);            // the critic with it, in final/critic
        return rows;
    }

    /// <summary>
    /// A resumable PPO checkpoint: the policy with its optimiser and the trainer state (step, RNG, the
    /// adaptive β) in DIR, the critic with its optimiser in DIR/critic. The reference is the run's initial/.
    /// </summary>
    public string Save(string dir, int step)
    {
        var state = new JsonObject { ["kind"] = "ppo", ["step"] = step, ["rng"] = rng.State, ["seed"] = o.Seed, ["beta"] = beta };
        Checkpoint.Save(dir, policy, tokenizer, policyOptimizer, state);
        Checkpoint.Save(Path.Combine(dir, "critic"), critic, tokenizer, criticOptimizer);
        return dir;
    }

    /// <summary>Restores the critic's optimiser and the adaptive β from a checkpoint written by <see cref="Save"/>.</summary>
    public void Restore(string dir, JsonObject state)
    {
        Checkpoint.LoadOptimizer(Path.Combine(dir, "critic"), criticOptimizer);
        beta = state["beta"]?.GetValue<float>() ?? beta;
    }

    /// <summary>One PPO step in its stages: sample, score, per-token rewards and GAE, optimise policy and critic, metrics.</summary>
    Dictionary<string, object> Step(int step, float lrScale, string? lastCheckpoint)
    {
        // 1. Sample one completion per prompt.
        var clock = Stopwatch.StartNew();
        // Data-parallel: --prompts per rank; each rank samples its share and every rank gets them all (DataParallel).
        var problems = Enumerable.Range(0, o.Prompts * Dist.Size).Select(_ => train[rng.Next(train.Count)]).ToList();
        var prompts = problems.Select(p => tokenizer.Encode(p.Prompt)).ToList();
        var completions = DataParallel.Generate(policy, tokenizer, prompts, 1,
            new SamplingOptions(o.MaxNewTokens, o.Temperature, Stop: [TaskEval.Stop]), rng);
        double sampling = clock.Elapsed.TotalSeconds;

        // 2. Score them: the reward model or the verifiable rewards (and, for the metrics, the verifier).
        var sw = Stopwatch.StartNew();
        int M = completions.Length;
        var (scores, rawScores, correct) = Score(problems, completions);
        double scoring = sw.Elapsed.TotalSeconds;

        // 3. The score on each last token, −β·KL on every token; GAE with the critic's values.
        sw.Restart();
        var (inputs, targets, mask, T) = Rollouts.Pack(prompts, completions, tokenizer.PadId);
        float[] Logp(Transformer model) => DataParallel.ByRows(M, (f, c) => Rollouts.TokenLogp(model,
            DataParallel.Rows(inputs, f, c, T), DataParallel.Rows(targets, f, c, T), c, T, o.Temperature));
        float[] oldLogp = Logp(policy);
        float[] refLogp = Logp(reference);
        float[] oldValues = DataParallel.ByRows(M, (f, c) => Values(critic, DataParallel.Rows(inputs, f, c, T), c, T,
            grad: false).Values);
        float[] kl = RlMath.Kl(be, oldLogp, refLogp, o.KlEstimator);
        float[] tokenRewards = PpoMath.RewardsWithKl(scores, kl, mask, M, T, beta);
        var (adv, returns) = RlMath.Gae(be, tokenRewards, oldValues, mask, M, T, o.Gamma, o.Lambda, whiten: mask.Sum() >= 2);

        // 4. Policy and critic take one step each on every minibatch of every epoch.
        var fo = new FusedLossOptions(o.Temperature, o.ClipRange, o.ClipRange, 0f, 0f, o.EntropyCoef,
            LossAggregation.TokenMean, o.MaxNewTokens);
        double vl = 0, vClip = 0;
        var stats = optimisation.Run(step, o.Lr * lrScale, inputs, targets, mask, M, T, oldLogp, adv, null, fo, o.PpoEpochs,
            o.MiniBatches, lastCheckpoint, afterUpdate: (rows, rowMask) =>
            {
                if (criticSync is not null)
                {
                    var (l, f) = SharedCriticStep(criticSync, rows, rowMask, inputs, mask, oldValues, returns, T,
                        lrScale, step);
                    vl += l; vClip += f;
                    return;
                }
                int m = rows.Length;
                criticOptimizer.ZeroGrad();
                var (values, vTensor) = Values(critic, Rollouts.Gather(inputs, rows, T), m, T, grad: true);
                var weights = RlMath.AggregationWeights(rowMask, m, T, LossAggregation.TokenMean);
                var (vLoss, vGrad, vFrac) = PpoMath.ValueLoss(values, Rollouts.Gather(oldValues, rows, T),
                    Rollouts.Gather(returns, rows, T), weights, rowMask, o.ClipRangeValue);
                for (int i = 0; i < vGrad.Length; i++) vGrad[i] *= o.VfCoef;
                vTensor!.Backward(Tensor.FromArray(be, vGrad, m, T));
                GradClip.ClipGlobalNorm(criticOptimizer.Parameters, o.Clip);
                criticOptimizer.Update(o.CriticLr * lrScale);
                vl += vLoss; vClip += vFrac;
            });
        int updates = stats.Updates;
        double training = sw.Elapsed.TotalSeconds;

        // 5. Metrics; the mean KL per sequence (summed over its tokens) also drives the adaptive coefficient.
        double klSeq = 0;
        for (int i = 0; i < M * T; i++) klSeq += kl[i] * mask[i];
        klSeq /= Math.Max(1, M);
        if (o.KlTarget > 0) beta = PpoMath.AdaptiveKl(beta, (float)klSeq, o.KlTarget, M);
        var maskedValues = oldValues.Where((_, i) => mask[i] != 0).DefaultIfEmpty(0f);
        int u = Math.Max(1, updates);
        var row = new Dictionary<string, object>
        {
            ["step"] = step, ["reward/mean"] = rawScores.Average(), ["reward/std"] = RlMath.Std(rawScores),
            [rewardModel is not null ? "rm/score" : "reward/verifiable"] = rawScores.Average(),
            ["accuracy"] = correct.Average(), ["completion_length/mean"] = completions.Average(c => c.Ids.Length),
            ["completion_length/max"] = completions.Max(c => c.Ids.Length), ["kl"] = (float)klSeq, ["beta"] = beta,
            ["loss/policy"] = stats.PolicyLoss, ["loss/value"] = (float)(vl / u), ["clipfrac"] = stats.ClipFraction,
            ["value_clipfrac"] = (float)(vClip / u), ["approx_kl"] = stats.ApproxKl, ["entropy"] = stats.Entropy,
            ["explained_variance"] = PpoMath.ExplainedVariance(oldValues, returns, mask), ["value/mean"] = maskedValues.Average(),
            ["tokens_per_s"] = Math.Round(mask.Sum() / clock.Elapsed.TotalSeconds, 1), ["lr"] = o.Lr * lrScale,
            ["time/sampling"] = Math.Round(sampling, 3), ["time/scoring"] = Math.Round(scoring, 3),
                ["time/training"] = Math.Round(training, 3),
        };
        // Only when the batch holds both right and wrong completions (JSON has no NaN).
        float auc = rewardModel is not null ? PpoMath.Auc(rawScores, correct) : float.NaN;
        if (float.IsFinite(auc)) row["rm/auc"] = auc;
        return row;
    }

    /// <summary>
    /// The critic's step on a minibatch across the ranks, as the policy's (PolicyOptimisation): each rank takes its
    /// share of the rows with the token-mean weights of the whole minibatch; the loss and clip fraction come back
    /// summed with the gradients.
    /// </summary>
    (float Loss, float ClipFraction) SharedCriticStep(GradientAllReduce sync, int[] rows, float[] rowMask, int[] inputs,
        float[] mask, float[] oldValues, float[] returns, int T, float lrScale, int step)
    {
        var (first, count) = Shard.Mine(rows.Length);
        var mine = rows[first..(first + count)];
        float[] myMask = Rollouts.Gather(mask, mine, T);
        float tokens = myMask.Sum(), allTokens = rowMask.Sum();
        criticOptimizer.ZeroGrad();
        var figures = new float[2];
        if (tokens > 0)
        {
            var (values, vTensor) = Values(critic, Rollouts.Gather(inputs, mine, T), count, T, grad: true);
            var weights = RlMath.AggregationWeights(myMask, count, T, LossAggregation.TokenMean,
                tokenDenominator: allTokens);
            var (vLoss, vGrad, vFrac) = PpoMath.ValueLoss(values, Rollouts.Gather(oldValues, mine, T),
                Rollouts.Gather(returns, mine, T), weights, myMask, o.ClipRangeValue);
            for (int i = 0; i < vGrad.Length; i++) vGrad[i] *= o.VfCoef;
            vTensor!.Backward(Tensor.FromArray(be, vGrad, count, T));
            figures = [vLoss, vFrac * tokens / allTokens];
        }
        var sum = sync.Run(figures, $"the critic's gradient all-reduce of step {step}");
        GradClip.ClipGlobalNorm(criticOptimizer.Parameters, o.Clip);
        criticOptimizer.Update(o.CriticLr * lrScale);
        return (sum[0], sum[1]);
    }

    /// <summary>Scores with the missing-EOS penalty (what PPO optimises), without it (what is logged), and correctness.</summary>
    (float[] Scores, float[] Raw, float[] Correct) Score(List<Problem> problems, Completion[] completions)
    {
        var info = completions.Select(c => new ResponseInfo(c.Ids.Length, c.FinishReason == "length")).ToArray();
        float[] raw = rewardModel is not null
            ? DataParallel.ByRows(completions.Length, (f, c) => rewardModel.Score(Enumerable.Range(f, c)
                .Select(i => (problems[i].Prompt, completions[i].Text)).ToList()))
            : problems.Select((p, i) => rewards!.Score(p, completions[i].Text, info[i]).Total).ToArray();
        float[] scores = raw.Select((s, i) => info[i].Truncated ? s + o.MissingEosPenalty : s).ToArray();
        float[] correct = problems.Select((p, i) => accuracy.Score(p, completions[i].Text, info[i])).ToArray();
        return (scores, raw, correct);
    }

    static (float[] Values, Tensor? Tensor) Values(Transformer critic, int[] inputs, int M, int T, bool grad)
    {
        if (grad)
        {
            var v = critic.Values(critic.Hidden(inputs, M, T));
            return (v.ToArray(), v);
        }
        using var _ = GradMode.Disable();
        return (critic.Values(critic.Hidden(inputs, M, T)).ToArray(), null);
    }
}
