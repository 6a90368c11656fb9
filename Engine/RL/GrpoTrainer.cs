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
    readonly PolicyOptimisation optimisation = new("grpo", policy, optimizer, rng, o.Clip);

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
                int next = step + 1;
                lastCheckpoint = StepCheckpoint.After(step, o.Steps, o.SaveEvery,
                    () => Save(Path.Combine(o.Out, $"checkpoint-{next}"), next)) ?? lastCheckpoint;
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

    /// <summary>One GRPO step in its stages: sample and score, advantages, log-probs, optimise, metrics.</summary>
    Dictionary<string, object> Step(int step, float lr, string? lastCheckpoint)
    {
        var clock = Stopwatch.StartNew();
        var sampled = SampleAndScore();
        var training = Stopwatch.StartNew();
        var completions = sampled.Groups.SelectMany(g => g.Completions).ToList();
        float[] scores = sampled.Groups.SelectMany(g => g.Rewards).ToArray();
        var stats = new PolicyUpdateStats(0, 0, 0, 0, 0, 0, 0);
        int trainedTokens = 0;
        if (completions.Count > 0)
        {
            var prompts = sampled.Groups.SelectMany(g => g.Completions.Select(_ => g.Prompt)).ToList();
            var (inputs, targets, mask, T) = Rollouts.Pack(prompts, completions, tokenizer.PadId,
                i => o.MaskTruncated && completions[i].FinishReason == "length");
            int M = completions.Count;
            float[] advantages = RlMath.BroadcastToTokens(Advantages(scores), mask, M, T);        // [M, T]
            trainedTokens = (int)mask.Sum();
            // The sampling policy's log-probs (the ratio's denominator) and, for β > 0, the reference's.
            float[] oldLogp = TokenLogp(policy, inputs, targets, M, T);
            float[]? refLogp = reference is not null && o.Beta > 0 ? TokenLogp(reference, inputs, targets, M, T) : null;
            var fo = new FusedLossOptions(o.Temperature, o.ClipLow, o.ClipHigh, 0f, o.Beta, o.EntropyCoef, o.Aggregation,
                o.MaxNewTokens);
            stats = optimisation.Run(step, lr, inputs, targets, mask, M, T, oldLogp, advantages, refLogp, fo, o.Iterations,
                o.MiniBatches, lastCheckpoint);
        }
        return Metrics(step, lr, sampled, scores, stats, completions, trainedTokens, training.Elapsed.TotalSeconds,
            clock.Elapsed.TotalSeconds);
    }

    /// <summary>What the sampling stage produced, with its counts and times.</summary>
    sealed record Sampled(List<Group> Groups, int Rounds, int SeenGroups, int FlatGroups, int Tokens, double SamplingSeconds,
        double ScoringSeconds);

    /// <summary>
    /// Prompts × GroupSize completions with the KV-cache sampler, each scored by the rewards. With DAPO's
    /// dynamic sampling, groups whose rewards are all equal are dropped and more prompts drawn, at most
    /// MaxResampleRounds extra times.
    /// </summary>
    Sampled SampleAndScore()
    {
        var groups = new List<Group>();
        double sampling = 0, scoring = 0;
        int flatGroups = 0, seenGroups = 0, tokens = 0, rounds = 0;
        int wanted = o.Prompts * Dist.Size;                 // data-parallel: --prompts per rank
        for (int round = 0; round <= (o.DynamicSampling ? o.MaxResampleRounds : 0); round++)
        {
            rounds++;
            var sw = Stopwatch.StartNew();
            var problems = Enumerable.Range(0, wanted).Select(_ => train[rng.Next(train.Count)]).ToList();
            var prompts = problems.Select(p => tokenizer.Encode(p.Prompt)).ToList();
            var completions = Generate(prompts);
            sampling += sw.Elapsed.TotalSeconds;
            tokens += completions.Sum(c => c.Ids.Length);
            sw.Restart();
            for (int g = 0; g < problems.Count; g++)
            {
                var group = Score(problems[g], prompts[g], completions[(g * o.GroupSize)..((g + 1) * o.GroupSize)]);
                bool flat = group.Rewards.All(r => r == group.Rewards[0]);
                seenGroups++;
                if (flat) flatGroups++;
                if (!o.DynamicSampling || !flat) groups.Add(group);
            }
            scoring += sw.Elapsed.TotalSeconds;
            if (!o.DynamicSampling || groups.Count >= wanted) break;
        }
        if (groups.Count > wanted) groups = groups.Take(wanted).ToList();
        return new Sampled(groups, rounds, seenGroups, flatGroups, tokens, sampling, scoring);
    }

    Completion[] Generate(List<int[]> prompts) => DataParallel.Generate(policy, tokenizer, prompts, o.GroupSize,
        new SamplingOptions(o.MaxNewTokens, o.Temperature, Stop: [TaskEval.Stop]), rng);

    /// <summary>The token log-probs of the packed batch; data-parallel, each rank scores its share of the
    /// rows.</summary>
    float[] TokenLogp(Transformer model, int[] inputs, int[] targets, int M, int T) =>
        DataParallel.ByRows(M, (first, count) => Rollouts.TokenLogp(model, DataParallel.Rows(inputs, first, count, T),
            DataParallel.Rows(targets, first, count, T), count, T, o.Temperature));

    Group Score(Problem problem, int[] prompt, Completion[] completions)
    {
        var info = completions.Select(c => new ResponseInfo(c.Ids.Length, c.FinishReason == "length")).ToArray();
        var scored = completions.Select((c, i) => rewards.Score(problem, c.Text, info[i])).ToArray();
        return new Group(problem, prompt, completions, scored.Select(s => s.Total).ToArray(), scored.Select(s => s.Each).ToArray(),
            completions.Select((c, i) => accuracy.Score(problem, c.Text, info[i])).ToArray(),
            completions.Select((c, i) => format.Score(problem, c.Text, info[i])).ToArray());
    }

    /// <summary>One advantage per response from its group's scores (GRPO, Dr. GRPO, RLOO, REINFORCE++-baseline).</summary>
    float[] Advantages(float[] scores)
    {
        var estimator = o.Advantage == AdvantageEstimator.Grpo && !o.ScaleByStd ? AdvantageEstimator.DrGrpo : o.Advantage;
        return scores.Length == 0 ? [] : RlMath.GroupAdvantages(be, scores, o.GroupSize, estimator, 1e-6f, o.Scope);
    }

    /// <summary>The step's metrics row, named as TRL and verl log them.</summary>
    Dictionary<string, object> Metrics(int step, float lr, Sampled sampled, float[] scores, PolicyUpdateStats stats,
        List<Completion> completions, int trainedTokens, double trainingSeconds, double stepSeconds)
    {
        var groups = sampled.Groups;
        var lengths = completions.Select(c => (double)c.Ids.Length).DefaultIfEmpty(0).ToArray();
        float Mean(IEnumerable<float> x) { var a = x.ToArray(); return a.Length == 0 ? 0f : a.Average(); }
        var row = new Dictionary<string, object> { ["step"] = step, ["lr"] = lr };
        row["reward/mean"] = Mean(scores);
        row["reward/std"] = RlMath.Std(scores);
        for (int f = 0; f < rewards.Parts.Count; f++)
            row[$"reward/{rewards.Parts[f].Function.Name}/mean"] = Mean(groups.SelectMany(g => g.Each.Select(e => e[f])));
        row["accuracy"] = Mean(groups.SelectMany(g => g.Correct));
        row["format_rate"] = Mean(groups.SelectMany(g => g.Formatted));
        row["completion_length/mean"] = lengths.Average();
        row["completion_length/max"] = lengths.Max();
        // Dr. GRPO's point: per-sequence normalisation lets wrong answers grow long; so the two lengths apart.
        var byCorrect = groups.SelectMany(g => g.Completions.Zip(g.Correct)).ToList();
        row["completion_length/correct"] = byCorrect.Where(c => c.Second > 0).Select(c => (double)c.First.Ids.Length)
            .DefaultIfEmpty(0).Average();
        row["completion_length/wrong"] = byCorrect.Where(c => c.Second <= 0).Select(c => (double)c.First.Ids.Length)
            .DefaultIfEmpty(0).Average();
        row["loss/policy"] = stats.PolicyLoss;
        row["clipfrac"] = stats.ClipFraction;
        row["approx_kl"] = stats.ApproxKl;
        row["kl"] = stats.Kl;
        row["entropy"] = stats.Entropy;
        row["grad_norm"] = stats.GradNorm;
        row["frac_zero_std_groups"] = sampled.SeenGroups == 0 ? 0f : (float)sampled.FlatGroups / sampled.SeenGroups;
        row["groups_trained"] = groups.Count;
        row["sampling_rounds"] = sampled.Rounds;
        row["tokens_per_s"] = Math.Round((sampled.Tokens + trainedTokens) / stepSeconds, 1);
        row["time/sampling"] = Math.Round(sampled.SamplingSeconds, 3);
        row["time/scoring"] = Math.Round(sampled.ScoringSeconds, 3);
        row["time/training"] = Math.Round(trainingSeconds, 3);
        return row;
    }
}
