using System.Diagnostics;
using System.Text.Json.Nodes;
using Engine.Autograd;
using Engine.Checkpoints;
using Engine.Generation;
using Engine.Kernels;
using Engine.Model;
using Engine.Rewards;
using Engine.Tasks;
using Engine.Tokenizers;
using Engine.Training;

namespace Engine.RL;

public sealed record GrpoOptions
{
    public int Steps { get; init; } = 100;
    public int Prompts { get; init; } = 8;
    public int GroupSize { get; init; } = 8;
    public int Iterations { get; init; } = 1;
    public int MiniBatches { get; init; } = 1;
    public int MaxNewTokens { get; init; } = 32;
    public float Temperature { get; init; } = 1f;
    public float Lr { get; init; } = 1e-4f;
    public int Warmup { get; init; } = 10;
    public float Clip { get; init; } = 1f;
    public float ClipLow { get; init; } = 0.2f;
    public float ClipHigh { get; init; } = 0.2f;
    public float Beta { get; init; }
    public float EntropyCoef { get; init; }
    public AdvantageEstimator Advantage { get; init; } = AdvantageEstimator.Grpo;
    public StdScope Scope { get; init; } = StdScope.Group;
    public bool ScaleByStd { get; init; } = true;
    public LossAggregation Aggregation { get; init; } = LossAggregation.TokenMean;
    public bool DynamicSampling { get; init; }
    public int MaxResampleRounds { get; init; } = 3;
    public bool MaskTruncated { get; init; }
    public int SaveEvery { get; init; }
    public int LogEvery { get; init; } = 10;
    public int Seed { get; init; } = 1;
    public string Out { get; init; } = "runs/grpo";
}

/// <summary>
/// GRPO with verifiable rewards (DeepSeekMath / R1-Zero), with the Dr. GRPO and DAPO options. Per
/// step: sample Prompts × GroupSize completions with the KV-cache sampler; score them; turn the
/// scores into group-relative advantages; recompute the old policy's (and, for β > 0, the frozen
/// reference's) log-probs; then Iterations passes over MiniBatches, each one optimiser step on the
/// fused clipped objective (+ β·k3 KL − c·entropy), aggregated as configured.
/// </summary>
public sealed class GrpoTrainer(Transformer policy, Transformer? reference, ITokenizer tokenizer, IReasoningTask task,
    IReadOnlyList<Problem> train, RewardSet rewards, AdamW optimizer, Rng rng, GrpoOptions o)
{
    readonly IBackend be = policy.Backend;
    readonly AccuracyReward accuracy = new(task);
    readonly FormatReward format = new();

    /// <summary>Sampled completions of one prompt, with their scores.</summary>
    sealed record Group(Problem Problem, int[] Prompt, Completion[] Completions, float[] Rewards, float[][] Each,
        float[] Correct, float[] Formatted);

    /// <summary>Warnings of a collapsed run (accuracy or reward fallen to 0), for the summary.</summary>
    public IReadOnlyList<string> Warnings => collapse.Warnings;
    readonly CollapseWatch collapse = new("grpo", "accuracy", "reward/mean");

    public IReadOnlyList<Dictionary<string, object>> Train(int startStep, Action<int, Dictionary<string, object>>? onStep = null)
    {
        var rows = new List<Dictionary<string, object>>();
        var schedule = new LrSchedule(o.Lr, o.Warmup, o.Steps, MinRatio: 1f);
        string? lastCheckpoint = null;
        using var run = new RunFolder(o.Out, resumeStep: startStep);
        Progress.Run("grpo", startStep, o.Steps, o.LogEvery, report =>
        {
            for (int step = startStep; step < o.Steps; step++)
            {
                var row = Step(step, schedule.At(step), lastCheckpoint);
                run.Log(row);
                rows.Add(row);
                onStep?.Invoke(step, row);
                collapse.Observe(step, row);
                if (o.SaveEvery > 0 && (step + 1) % o.SaveEvery == 0 && step + 1 < o.Steps)
                    lastCheckpoint = Save(Path.Combine(o.Out, $"checkpoint-{step + 1}"), step + 1);
                if (Interrupt.Requested && step + 1 < o.Steps)
                    throw new InterruptedException(step + 1,
                        Save(Path.Combine(o.Out, $"checkpoint-{step + 1}"), step + 1), resumable: true);
                report(step, $"reward {row["reward/mean"]:F3} acc {row["accuracy"]:F3} len " +
                    $"{row["completion_length/mean"]:F1} kl {row["kl"]:F4}");
            }
        });
        Save(Path.Combine(o.Out, "final"), o.Steps);
        return rows;
    }

    public string Save(string dir, int step)
    {
        var state = new JsonObject { ["kind"] = "grpo", ["step"] = step, ["rng"] = rng.State, ["seed"] = o.Seed };
        Checkpoint.Save(dir, policy, tokenizer, optimizer, state);
        return dir;
    }

    Dictionary<string, object> Step(int step, float lr, string? lastCheckpoint)
    {
        var clock = Stopwatch.StartNew();
        // ---- sampling and scoring (DAPO dynamic sampling: keep groups whose rewards differ) ----
        var groups = new List<Group>();
        double sampling = 0, scoring = 0;
        int zeroStd = 0, seenGroups = 0, sampledTokens = 0, rounds = 0;
        for (int round = 0; round <= (o.DynamicSampling ? o.MaxResampleRounds : 0); round++)
        {
            rounds++;
            var sw = Stopwatch.StartNew();
            var problems = Enumerable.Range(0, o.Prompts).Select(_ => train[rng.Next(train.Count)]).ToList();
            var prompts = problems.Select(p => tokenizer.Encode(p.Prompt)).ToList();
            var completions = Generator.Generate(policy, tokenizer, prompts.SelectMany(p => Enumerable.Repeat(p, o.GroupSize)).ToList(),
                new SamplingOptions(o.MaxNewTokens, o.Temperature, Stop: [TaskEval.Stop]), rng);
            sampling += sw.Elapsed.TotalSeconds;
            sampledTokens += completions.Sum(c => c.Ids.Length);
            sw.Restart();
            for (int g = 0; g < problems.Count; g++)
            {
                var cs = completions[(g * o.GroupSize)..((g + 1) * o.GroupSize)];
                var scored = cs.Select(c => rewards.Score(problems[g], c.Text,
                    new ResponseInfo(c.Ids.Length, c.FinishReason == "length"))).ToArray();
                var info = cs.Select(c => new ResponseInfo(c.Ids.Length, c.FinishReason == "length")).ToArray();
                var group = new Group(problems[g], prompts[g], cs, scored.Select(s => s.Total).ToArray(),
                    scored.Select(s => s.Each).ToArray(),
                    cs.Select((c, i) => accuracy.Score(problems[g], c.Text, info[i])).ToArray(),
                    cs.Select((c, i) => format.Score(problems[g], c.Text, info[i])).ToArray());
                bool flat = group.Rewards.All(r => r == group.Rewards[0]);
                seenGroups++;
                if (flat) zeroStd++;
                if (!o.DynamicSampling || !flat) groups.Add(group);
            }
            scoring += sw.Elapsed.TotalSeconds;
            if (!o.DynamicSampling || groups.Count >= o.Prompts) break;
        }
        if (groups.Count > o.Prompts) groups = groups.Take(o.Prompts).ToList();

        // ---- advantages, sequences, old and reference log-probs ----
        var sw2 = Stopwatch.StartNew();
        var row = new Dictionary<string, object> { ["step"] = step, ["lr"] = lr };
        var all = groups.SelectMany(g => g.Completions).ToList();
        float[] scores = groups.SelectMany(g => g.Rewards).ToArray();
        var estimator = o.Advantage == AdvantageEstimator.Grpo && !o.ScaleByStd ? AdvantageEstimator.DrGrpo : o.Advantage;
        float[] seqAdv = scores.Length == 0 ? [] : RlMath.GroupAdvantages(be, scores, o.GroupSize, estimator, 1e-6f, o.Scope);
        float policyLoss = 0, clipFrac = 0, approxKl = 0, kl = 0, entropy = 0, gradNorm = 0;
        int trainedTokens = 0;
        if (all.Count > 0)
        {
            var promptIds = groups.SelectMany(g => g.Completions.Select(_ => g.Prompt)).ToList();
            var (inputs, targets, mask, T) = Rollouts.Pack(promptIds, all, tokenizer.PadId,
                i => o.MaskTruncated && all[i].FinishReason == "length");
            int M = all.Count, V = policy.Config.VocabSize;
            var adv = RlMath.BroadcastToTokens(seqAdv, mask, M, T);
            trainedTokens = (int)mask.Sum();
            float[] oldLogp = Rollouts.TokenLogp(policy, inputs, targets, M, T, o.Temperature);
            float[]? refLogp = reference is not null && o.Beta > 0
                ? Rollouts.TokenLogp(reference, inputs, targets, M, T, o.Temperature) : null;

            // ---- optimisation: Iterations × MiniBatches optimiser steps ----
            var order = Enumerable.Range(0, M).ToArray();
            int mbSize = (M + o.MiniBatches - 1) / o.MiniBatches;
            var fo = new FusedLossOptions(o.Temperature, o.ClipLow, o.ClipHigh, 0f, o.Beta, o.EntropyCoef, o.Aggregation, o.MaxNewTokens);
            int updates = 0;
            for (int it = 0; it < o.Iterations; it++)
            {
                rng.Shuffle(order);
                for (int start = 0; start < M; start += mbSize)
                {
                    var rows_ = order[start..Math.Min(M, start + mbSize)];
                    int m = rows_.Length;
                    int[] Take(int[] x) => Rollouts.Gather(x, rows_, T);
                    float[] TakeF(float[] x) => Rollouts.Gather(x, rows_, T);
                    float[] mbMask = TakeF(mask);
                    if (mbMask.Sum() == 0) continue;
                    optimizer.ZeroGrad();
                    var logits = policy.Forward(Take(inputs), m, T);
                    // dlogits overwrite the logits in place: the head's backward needs its inputs, not its output.
                    var res = FusedPolicy.Run(be, logits.Data, logits.Data, Take(targets), TakeF(oldLogp), TakeF(adv), mbMask,
                        refLogp is null ? null : TakeF(refLogp), m, T, V, fo);
                    if (!float.IsFinite(res.Loss))
                        throw new InvalidOperationException($"grpo: the loss became {res.Loss} at step {step}; " +
                            (lastCheckpoint is null ? "no checkpoint was written yet"
                                : $"the last good checkpoint is {lastCheckpoint}") + "; try a lower --lr");
                    logits.Backward(Tensor.Wrap(be, logits.Data, logits.Shape));
                    gradNorm = GradClip.ClipGlobalNorm(optimizer.Parameters, o.Clip);
                    if (!float.IsFinite(gradNorm))
                        throw new InvalidOperationException($"grpo: the gradient norm became {gradNorm} at step {step}; " +
                            (lastCheckpoint is null ? "no checkpoint was written yet"
                                : $"the last good checkpoint is {lastCheckpoint}") + "; try a lower --lr");
                    optimizer.Update(lr);
                    policyLoss += res.PolicyLoss; clipFrac += res.ClipFraction; approxKl += res.ApproxKl; kl += res.Kl;
                    entropy += res.Entropy;
                    updates++;
                }
            }
            if (updates > 0) { policyLoss /= updates; clipFrac /= updates; approxKl /= updates; kl /= updates; entropy /= updates; }
        }
        double training = sw2.Elapsed.TotalSeconds;

        // ---- metrics (names as TRL/verl log them) ----
        var lengths = all.Select(c => (double)c.Ids.Length).DefaultIfEmpty(0).ToArray();
        float Mean(IEnumerable<float> x) { var a = x.ToArray(); return a.Length == 0 ? 0f : a.Average(); }
        row["reward/mean"] = Mean(scores);
        row["reward/std"] = RlMath.Std(scores);
        for (int f = 0; f < rewards.Parts.Count; f++)
            row[$"reward/{rewards.Parts[f].Function.Name}/mean"] = Mean(groups.SelectMany(g => g.Each.Select(e => e[f])));
        row["accuracy"] = Mean(groups.SelectMany(g => g.Correct));
        row["format_rate"] = Mean(groups.SelectMany(g => g.Formatted));
        row["completion_length/mean"] = lengths.Average();
        row["completion_length/max"] = lengths.Max();
        row["loss/policy"] = policyLoss;
        row["clipfrac"] = clipFrac;
        row["approx_kl"] = approxKl;
        row["kl"] = kl;
        row["entropy"] = entropy;
        row["grad_norm"] = gradNorm;
        row["frac_zero_std_groups"] = seenGroups == 0 ? 0f : (float)zeroStd / seenGroups;
        row["groups_trained"] = groups.Count;
        row["sampling_rounds"] = rounds;
        row["tokens_per_s"] = Math.Round((sampledTokens + trainedTokens) / clock.Elapsed.TotalSeconds, 1);
        row["time/sampling"] = Math.Round(sampling, 3);
        row["time/scoring"] = Math.Round(scoring, 3);
        row["time/training"] = Math.Round(training, 3);
        return row;
    }
}
