using System.Text.Json;
using System.Text.Json.Nodes;
using CommandLine;
using Engine.Checkpoints;
using Engine.Data;
using Engine.Model;
using Engine.RL;
using Engine.Rewards;
using Engine.Tasks;
using Engine.Tokenizers;
using Engine.Training;

namespace Engine.Cli;

[Verb("grpo", HelpText = "GRPO with verifiable rewards (Dr. GRPO, RLOO, DAPO options) on a task's problems.")]
sealed class GrpoCliOptions : ModelOptions, IRunOptions
{
    [Option("task", Default = "arithmetic", HelpText = "arithmetic | countdown | multisum: generates problems and verifies answers.")]
    public string Task { get; set; } = "arithmetic";
    [Option("data", HelpText = "JSONL of {\"prompt\",\"answer\"} to train on instead of generated problems (verified by --task).")]
    public string? Data { get; set; }
    [Option("out", HelpText = "Run folder (metrics.jsonl, checkpoints, curves, summary.json). " +
                              "Default: a new runs/grpo, runs/grpo-2, ... (with --resume: the checkpoint's run folder).")]
    public string? Out { get; set; }
    [Option("overwrite", Default = false, HelpText = "Replace the run already in --out.")]
    public bool Overwrite { get; set; }
    [Option("steps", Default = 100, HelpText = "GRPO steps.")]
    public int Steps { get; set; }
    [Option("prompts", Default = 8, HelpText = "Prompts per step.")]
    public int Prompts { get; set; }
    [Option("group-size", Default = 8, HelpText = "Completions per prompt (G).")]
    public int GroupSize { get; set; }
    [Option("iterations", Default = 1, HelpText = "Optimisation passes over each step's samples (μ).")]
    public int Iterations { get; set; }
    [Option("minibatches", Default = 1, HelpText = "Optimiser steps per pass.")]
    public int MiniBatches { get; set; }
    [Option("max-new-tokens", Default = 32, HelpText = "Completion budget.")]
    public int MaxNewTokens { get; set; }
    [Option("temperature", Default = 1f, HelpText = "Sampling temperature (log-probs use the same).")]
    public float Temperature { get; set; }
    [Option("lr", Default = 1e-4f, HelpText = "Learning rate (constant after warm-up).")]
    public float Lr { get; set; }
    [Option("warmup", Default = 10, HelpText = "Warm-up steps (a fresh Adam's first steps are its largest).")]
    public int Warmup { get; set; }
    [Option("clip", Default = 1f, HelpText = "Global gradient-norm clip.")]
    public float Clip { get; set; }
    [Option("epsilon", Default = 0.2f, HelpText = "ε (ε_low) of the clipped objective.")]
    public float Epsilon { get; set; }
    [Option("epsilon-high", HelpText = "ε_high (DAPO clip-higher: 0.28). Default: ε.")]
    public float? EpsilonHigh { get; set; }
    [Option("beta", Default = 0f, HelpText = "k3 KL coefficient to the frozen initial policy (0: the reference is not loaded).")]
    public float Beta { get; set; }
    [Option("entropy-coef", Default = 0f, HelpText = "Entropy bonus coefficient.")]
    public float EntropyCoef { get; set; }
    [Option("advantage", Default = "grpo", HelpText = "grpo | dr-grpo | rloo | reinforce++ (REINFORCE++-baseline).")]
    public string Advantage { get; set; } = "grpo";
    [Option("scale-rewards", Default = "group", HelpText = "group | batch | none (Dr. GRPO): what the GRPO std is taken over.")]
    public string ScaleRewards { get; set; } = "group";
    [Option("loss-agg", Default = "token-mean",
        HelpText = "token-mean | seq-mean-token-mean | seq-mean-token-sum | seq-mean-token-sum-norm.")]
    public string LossAgg { get; set; } = "token-mean";
    [Option("rewards", Default = "accuracy:1,format:0.1",
        HelpText = "Weighted rewards: accuracy, format, format-partial, cosine, overlong, length-control.")]
    public string Rewards { get; set; } = "accuracy:1,format:0.1";
    [Option("length-budgets", Separator = ',', HelpText = "L1 length control: thinking budgets put on the training " +
        "prompts in turn (\" /budget N\"); reward them with length-control in --rewards.")]
    public IEnumerable<int> LengthBudgets { get; set; } = [];
    [Option("dynamic-sampling", Default = false, HelpText = "DAPO: drop groups whose rewards are all equal and sample more prompts.")]
    public bool DynamicSampling { get; set; }
    [Option("max-resample-rounds", Default = 3, HelpText = "Cap on the extra sampling rounds of --dynamic-sampling.")]
    public int MaxResampleRounds { get; set; }
    [Option("mask-truncated", Default = false, HelpText = "No loss on completions that hit the token budget without finishing.")]
    public bool MaskTruncated { get; set; }
    [Option("save-every", Default = 0,
        HelpText = "Checkpoint every N steps (OUT/checkpoint-N); OUT/final at the end, and one on Ctrl-C.")]
    public int SaveEvery { get; set; }
    [Option("log-every", Default = 10, HelpText = "Without a terminal: a line every N steps.")]
    public int LogEvery { get; set; }
    [Option("resume", HelpText = "Continue from OUT/checkpoint-N (weights, optimiser, step, RNG).")]
    public string? Resume { get; set; }
    [Option("train-size", Default = 5000, HelpText = "Generated training problems.")]
    public int TrainSize { get; set; }
}

[Verb("data", HelpText = "Write a task's problems as JSONL {\"prompt\",\"answer\",\"completion\"} (train or held-out split).")]
sealed class DataOptions : VerbOptions
{
    [Option("task", Default = "arithmetic", HelpText = "arithmetic | countdown | multisum.")]
    public string Task { get; set; } = "arithmetic";
    [Option("n-problems", Default = 100, HelpText = "Problems (short form: --n).")]
    public int N { get; set; }
    [Option("split", Default = "train", HelpText = "train | test (disjoint).")]
    public string Split { get; set; } = "train";
    [Option("seed", Default = 1, HelpText = "Seed of the generator.")]
    public int Seed { get; set; }
    [Option("out", HelpText = "Output file (default: stdout).")]
    public string? Out { get; set; }
    [Option("thinking-modes", Default = false, HelpText = "Every other problem asked with thinking off (prompt ending " +
        "\" /no_think\", completion the answer alone): SFT data that teaches the switch.")]
    public bool ThinkingModes { get; set; }
    [Option("length-budgets", Separator = ',', HelpText = "Length-control SFT data (multisum tasks): budgets in turn " +
        "on the prompts (\" /budget N\"), each worked solution the one whose thinking is closest to its budget " +
        "(with --varied-thoughts: of random verbosity, the budget unrelated to it).")]
    public IEnumerable<int> LengthBudgets { get; set; } = [];
    [Option("varied-thoughts", Default = false, HelpText = "Worked solutions of random verbosity (multisum tasks): " +
        "the answer at once, fewer larger steps, the running total, or it and a check.")]
    public bool VariedThoughts { get; set; }
}

static class RlCommands
{
    public static LossAggregation ParseAggregation(string s) => s switch
    {
        "token-mean" => LossAggregation.TokenMean,
        "seq-mean-token-mean" => LossAggregation.SeqMeanTokenMean,
        "seq-mean-token-sum" => LossAggregation.SeqMeanTokenSum,
        "seq-mean-token-sum-norm" => LossAggregation.SeqMeanTokenSumNorm,
        _ => throw new ArgumentException($"--loss-agg {s}: expected token-mean, seq-mean-token-mean, " +
            $"seq-mean-token-sum or seq-mean-token-sum-norm"),
    };

    public static IReadOnlyList<Problem> ReadProblems(string path)
    {
        var list = new List<Problem>();
        foreach (var (line, row) in Jsonl.Read(path))
            list.Add(new Problem(Jsonl.Field(row, "prompt", path, line), Jsonl.Field(row, "answer", path, line),
                row["completion"] is JsonValue c && c.TryGetValue(out string? s) ? s : null));
        if (list.Count == 0) throw new ArgumentException($"--data {path}: no problems in the file");
        return list;
    }

    public static GrpoOptions Options(GrpoCliOptions o, string outDir)
    {
        if (o.Steps < 1 || o.Prompts < 1 || o.GroupSize < 1 || o.Iterations < 1 || o.MiniBatches < 1
            || o.MaxNewTokens < 1 || o.LogEvery < 1)
            throw new ArgumentException("grpo: --steps, --prompts, --group-size, --iterations, --minibatches, " +
                "--max-new-tokens and --log-every must be >= 1");
        if (o.ScaleRewards is not ("group" or "batch" or "none"))
            throw new ArgumentException($"--scale-rewards {o.ScaleRewards}: expected group, batch or none");
        var advantage = o.Advantage switch
        {
            "grpo" => AdvantageEstimator.Grpo, "dr-grpo" => AdvantageEstimator.DrGrpo, "rloo" => AdvantageEstimator.Rloo,
            "reinforce++" => AdvantageEstimator.ReinforcePlusPlusBaseline,
            _ => throw new ArgumentException($"--advantage {o.Advantage}: expected grpo, dr-grpo, rloo or reinforce++"),
        };
        bool scale = advantage == AdvantageEstimator.Grpo && o.ScaleRewards != "none";
        if (o.GroupSize == 1 && (scale || advantage == AdvantageEstimator.Rloo))
            throw new ArgumentException($"grpo: --group-size 1 has no group statistics for " +
                $"{(scale ? "std scaling" : "a leave-one-out baseline")}; use a group of 2 or more, or --advantage " +
                $"dr-grpo");
        Check.PositiveFinite(o.Temperature, "--temperature");
        Check.PositiveFinite(o.Lr, "--lr");
        Check.NonNegativeFinite(o.Clip, "--clip");
        Check.NonNegativeFinite(o.Beta, "--beta");
        if (o.SaveEvery < 0 || o.Warmup < 0 || o.MaxResampleRounds < 0 || o.TrainSize < 1)
            throw new ArgumentException("grpo: --save-every, --warmup and --max-resample-rounds must be >= 0 and --train-size >= 1");
        if (!(o.Epsilon > 0 && o.Epsilon < 1) || o.EpsilonHigh is <= 0)
            throw new ArgumentException($"grpo: --epsilon must be in (0, 1) and --epsilon-high > 0, got {o.Epsilon} and {o.EpsilonHigh}");
        return new GrpoOptions
        {
            Steps = o.Steps, Prompts = o.Prompts, GroupSize = o.GroupSize, Iterations = o.Iterations, MiniBatches = o.MiniBatches,
            MaxNewTokens = o.MaxNewTokens, Temperature = o.Temperature, Lr = o.Lr, Warmup = o.Warmup, Clip = o.Clip,
            ClipLow = o.Epsilon, ClipHigh = o.EpsilonHigh ?? o.Epsilon, Beta = o.Beta, EntropyCoef = o.EntropyCoef,
            Advantage = advantage, Scope = o.ScaleRewards == "batch" ? StdScope.Batch : StdScope.Group, ScaleByStd = scale,
            Aggregation = ParseAggregation(o.LossAgg), DynamicSampling = o.DynamicSampling, MaxResampleRounds = o.MaxResampleRounds,
            MaskTruncated = o.MaskTruncated, SaveEvery = o.SaveEvery, LogEvery = o.LogEvery, Seed = o.Seed, Out = outDir,
        };
    }

    public static int Grpo(GrpoCliOptions o)
    {
        var task = ReasoningTasks.Create(o.Task);
        var options = Options(o, "");                    // every option checked before anything is written
        var runDir = RunDirs.For("grpo", o, o.Resume, o.Steps);
        var (_, backend, _) = ModelSetup.Backend(o, false);
        var (policy, tokenizer) = ModelSetup.Create(o, backend, o.Resume ?? o.Checkpoint, o.Resume is null ? "--checkpoint" : "--resume");
        var train = Tasks.LengthControl.Assign(
            o.Data is not null ? ReadProblems(o.Data) : task.Generate("train", o.TrainSize, o.Seed), o.LengthBudgets.ToList());
        CheckPrompts("grpo", train, tokenizer, policy.Config.MaxPositions, o.Data ?? "generated problems");
        var rewards = RewardSet.Parse(o.Rewards, task, o.MaxNewTokens);
        string outDir = runDir.Claim();
        options = options with { Out = outDir };
        var optimizer = AdamW.For(policy, 0f);
        var rng = new Rng(o.Seed);
        int start = 0;
        Transformer? reference = null;
        string referenceDir = Path.Combine(o.Resume is null ? outDir : RunDirs.Of(o.Resume), "reference");
        if (o.Resume is not null) start = Checkpoint.Resume(o.Resume, optimizer, rng, "grpo");
        if (o.Beta > 0)
        {
            if (o.Resume is null || !Directory.Exists(referenceDir))
            {
                if (o.Resume is not null)
                    throw new ArgumentException($"--resume {o.Resume}: its run folder has no reference/ for --beta {o.Beta}");
                Checkpoint.Save(referenceDir, policy, tokenizer);   // the frozen reference is the starting policy
            }
            reference = o.Resume is null ? policy.Clone() : Checkpoint.LoadModel(referenceDir, backend, flag: "--resume");
        }
        var trainer = new GrpoTrainer(policy, reference, tokenizer, task, train, rewards, optimizer, rng, options);
        IReadOnlyList<Dictionary<string, object>> rows;
        using (Interrupt.Defer()) rows = trainer.Train(start);
        if (rows.Count > 0) Curves.Save(Path.Combine(outDir, "reward.png"), $"GRPO on {task.Name}", rows, ["reward/mean", "accuracy"]);
        RunFolder.WriteSummary(outDir, new Dictionary<string, object>
        {
            ["task"] = task.Name, ["steps"] = o.Steps, ["final"] = rows.Count > 0 ? rows[^1] : new Dictionary<string, object>(),
            ["checkpoint"] = Path.Combine(outDir, "final"), ["warnings"] = trainer.Warnings,
        });
        Console.WriteLine($"grpo: wrote {Path.Combine(outDir, "final")}, metrics.jsonl, reward.png and summary.json");
        return 0;
    }


    public static void CheckPrompts(string verb, IEnumerable<Problem> problems, ITokenizer tokenizer, int context, string source)
    {
        foreach (var p in problems)
        {
            int length = tokenizer.Encode(p.Prompt).Length;
            if (length >= context)
                throw new ArgumentException($"{verb}: a prompt of {length} tokens in {source} does not fit the " +
                    $"context of {context} (\"{(p.Prompt.Length > 40 ? p.Prompt[..40] + "…" : p.Prompt)}\")");
        }
    }

    public static int Data(DataOptions o)
    {
        var task = ReasoningTasks.Create(o.Task);
        Check.AtLeast(o.N, 1, "--n-problems");
        if (o.Split is not ("train" or "test")) throw new ArgumentException($"--split {o.Split}: expected train or test");
        var problems = task.Generate(o.Split, o.N, o.Seed);
        var budgets = o.LengthBudgets.ToList();
        if ((budgets.Count > 0 || o.VariedThoughts) && task is not IVariedThoughts)
            throw new ArgumentException($"data: --length-budgets and --varied-thoughts need a task that can vary its " +
                $"worked solutions (multisum, multisum:1), not {task.Name}");
        if (budgets.Count > 0 && o.ThinkingModes)
            throw new ArgumentException("data: --length-budgets does not combine with --thinking-modes");
        foreach (int b in budgets) Check.AtLeast(b, 0, "--length-budgets");
        // Budgets alone: matched worked solutions. With --varied-thoughts: the budgets on the prompts and worked
        // solutions of random verbosity, so the marker means nothing yet (what L1's RL alone has to teach).
        if (o.VariedThoughts) problems = LengthControl.Varied(problems, (IVariedThoughts)task, o.Seed);
        if (budgets.Count > 0)
            problems = o.VariedThoughts ? LengthControl.Assign(problems, budgets)
                : LengthControl.Matched(problems, budgets, (IVariedThoughts)task);
        if (o.ThinkingModes) problems = Tasks.ThinkingModes.Mix(problems);
        var rows = problems.Select(p =>
        {
            var row = new JsonObject { ["prompt"] = p.Prompt, ["answer"] = p.Answer };
            if (p.Completion is not null) row["completion"] = p.Completion;
            return row;
        });
        if (o.Out is null) foreach (var r in rows) Console.WriteLine(r.Text());
        else
        {
            Jsonl.WriteAtomic(o.Out, rows);
            Console.Error.WriteLine($"data: wrote {o.N} {task.Name} problems ({o.Split} split) to {o.Out}");
        }
        return 0;
    }
}
