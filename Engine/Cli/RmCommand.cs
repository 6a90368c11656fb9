using CommandLine;
using Engine.Checkpoints;
using Engine.Model;
using Engine.RL;
using Engine.Tasks;
using Engine.Training;

namespace Engine.Cli;

[Verb("rm", HelpText = "Train a reward model (scalar head or implicit log-ratio, Bradley–Terry) on " +
    "{\"prompt\",\"chosen\",\"rejected\"} JSONL or built-in preferences.")]
sealed class RmOptions : ModelOptions, IRunOptions
{
    [Option("data", HelpText = "JSONL of {\"prompt\",\"chosen\",\"rejected\"}; 10% is held out. Default: built-in " +
        "preferences from --task.")]
    public string? Data { get; set; }
    [Option("task", Default = "arithmetic",
        HelpText = "Task of the built-in preferences (correct and concise over wrong, rambling or malformed).")]
    public string Task { get; set; } = "arithmetic";
    [Option("pairs", Default = 4000, HelpText = "Built-in training pairs.")]
    public int Pairs { get; set; }
    [Option("head", Default = "scalar",
        HelpText = "scalar: a value head read at the last token | implicit: the LM's log-likelihood ratio to its " +
        "initialisation, β·Σ log π/π_ref (DPO's reward).")]
    public string Head { get; set; } = "scalar";
    [Option("beta", Default = 0.1f, HelpText = "β of the implicit reward.")]
    public float Beta { get; set; }
    [Option("policy", HelpText = "Also pairs from this policy's own samples, labelled by the task's verifier " +
        "(correct and well-formatted over wrong or malformed), held out on test prompts.")]
    public string? Policy { get; set; }
    [Option("policy-prompts", Default = 2000,
        HelpText = "With --policy: training prompts to sample on (a tenth as many test prompts, at least 200).")]
    public int PolicyPrompts { get; set; }
    [Option("policy-k", Default = 4, HelpText = "With --policy: samples per prompt.")]
    public int PolicyK { get; set; }
    [Option("out", HelpText = "Run folder. Default: a new runs/rm, runs/rm-2, ...")]
    public string? Out { get; set; }
    [Option("overwrite", Default = false, HelpText = "Replace the run already in --out.")]
    public bool Overwrite { get; set; }
    [Option("steps", Default = 300, HelpText = "Optimiser steps.")]
    public int Steps { get; set; }
    [Option("batch", Default = 16, HelpText = "Pairs per step.")]
    public int Batch { get; set; }
    [Option("lr", Default = 1e-3f, HelpText = "Peak learning rate (warm-up, cosine).")]
    public float Lr { get; set; }
    [Option("warmup", Default = 20, HelpText = "Warm-up steps.")]
    public int Warmup { get; set; }
    [Option("clip", Default = 1f, HelpText = "Global gradient-norm clip.")]
    public float Clip { get; set; }
    [Option("eval-every", Default = 50, HelpText = "Held-out pairwise accuracy every N steps.")]
    public int EvalEvery { get; set; }
    [Option("log-every", Default = 25, HelpText = "Without a terminal: a line every N steps.")]
    public int LogEvery { get; set; }
}

static class RmCommand
{
    public static int Run(RmOptions o)
    {
        if (o.Steps < 1 || o.Batch < 1 || o.Pairs < 10 || o.LogEvery < 1)
            throw new ArgumentException("rm: --steps, --batch, --log-every must be >= 1 and --pairs >= 10");
        bool implicitHead = o.Head switch
        {
            "scalar" => false, "implicit" => true,
            _ => throw new ArgumentException($"--head {o.Head}: expected scalar or implicit"),
        };
        if (implicitHead && !(o.Beta > 0)) throw new ArgumentException($"--beta {o.Beta}: must be > 0");
        Check.PositiveFinite(o.Lr, "--lr");
        Check.NonNegativeFinite(o.Clip, "--clip");
        if (o.Warmup < 0 || o.EvalEvery < 1) throw new ArgumentException("rm: --warmup must be >= 0 and --eval-every >= 1");
        var task = ReasoningTasks.Create(o.Task);
        var runDir = RunDirs.For("rm", o);
        var (_, backend, _) = ModelSetup.Backend(o, false);
        Transformer rm;
        Tokenizers.ITokenizer tokenizer;
        if (o.Checkpoint is not null)
        {
            (_, tokenizer) = Checkpoint.Load(o.Checkpoint, backend);
            rm = Checkpoint.LoadModel(o.Checkpoint, backend, withValueHead: !implicitHead, seed: o.Seed);
            Console.WriteLine($"reward model ({o.Head}) from {o.Checkpoint}"
                + (implicitHead || Checkpoint.HasValueHead(o.Checkpoint) ? "" : " with a fresh value head"));
        }
        else
        {
            (var fresh, tokenizer) = ModelSetup.Create(o, backend);
            rm = new Transformer(fresh.Config with { ValueHead = !implicitHead }, backend, o.Seed);
        }
        // The implicit reward's reference is the initialisation, frozen (a copy of the same weights).
        ImplicitRewardModel? implicitRm = null;
        if (implicitHead)
        {
            implicitRm = new ImplicitRewardModel(rm, rm.Clone(seed: o.Seed), tokenizer, o.Beta);
        }
        IReadOnlyList<Preference> train, test;
        if (o.Data is not null)
        {
            var all = RewardModel.ReadJsonl(o.Data);
            if (all.Count < 10) throw new ArgumentException($"--data {o.Data}: needs at least 10 pairs, got {all.Count}");
            int nTest = Math.Max(1, all.Count / 10);
            (train, test) = (all.Take(all.Count - nTest).ToList(), all.Skip(all.Count - nTest).ToList());
        }
        else (train, test) = (RewardModel.FromTask(task, "train", o.Pairs, o.Seed),
            RewardModel.FromTask(task, "test", Math.Max(50, o.Pairs / 10), o.Seed));
        string source = o.Data ?? $"built-in {task.Name} preferences";
        if (o.Policy is not null)
        {
            if (o.PolicyPrompts < 10 || o.PolicyK < 2)
                throw new ArgumentException("rm: --policy-prompts must be >= 10 and --policy-k >= 2");
            var (policy, policyTokenizer) = Checkpoint.Load(o.Policy, backend, "--policy");
            if (policyTokenizer.VocabSize != tokenizer.VocabSize)
                throw new ArgumentException($"--policy {o.Policy}: its tokenizer ({policyTokenizer.VocabSize} ids) " +
                    $"differs from the reward model's ({tokenizer.VocabSize})");
            var policyRng = new Rng(o.Seed * 17L + 5);
            var fromPolicyTrain = PolicyPreferences.Sample(policy, tokenizer, task,
                task.Generate("train", o.PolicyPrompts, o.Seed), o.PolicyK, 40, 1f, policyRng);
            var fromPolicyTest = PolicyPreferences.Sample(policy, tokenizer, task,
                task.Generate("test", Math.Max(200, o.PolicyPrompts / 10), o.Seed), o.PolicyK, 40, 1f, policyRng);
            if (fromPolicyTrain.Count == 0)
                throw new ArgumentException($"--policy {o.Policy}: no prompt drew both a verified-correct and a " +
                    $"wrong sample, so there are no pairs (is the policy trained on --task {task.Name}?)");
            (train, test) = (train.Concat(fromPolicyTrain).ToList(), test.Concat(fromPolicyTest).ToList());
            source += $" + {fromPolicyTrain.Count}/{fromPolicyTest.Count} pairs from {o.Policy}'s samples";
        }
        Console.WriteLine($"rm: {train.Count} training pairs, {test.Count} held out ({source})");

        string outDir = runDir.Claim();
        var options = new RmTrainOptions
        {
            Out = outDir, Head = o.Head, Steps = o.Steps, Batch = o.Batch, Lr = o.Lr, Warmup = o.Warmup, Clip = o.Clip,
            EvalEvery = o.EvalEvery, LogEvery = o.LogEvery, Seed = o.Seed,
        };
        RmTrainResult r;
        using (Interrupt.Defer()) r = new RmTrainer(rm, tokenizer, implicitRm, train, test, options).Train();
        var (accBefore, evalAcc, byKind) = (r.AccuracyBefore, r.Accuracy, r.AccuracyByKind);
        Console.WriteLine($"rm: held-out pairwise accuracy {accBefore:P1} -> {evalAcc:P1}"
            + (implicitHead ? " (at the start every implicit reward is 0: all ties)" : "")
            + $"; wrote {Path.Combine(outDir, "final")}");
        if (byKind.Count > 0)
            Console.WriteLine("rm: by kind of rejected response: "
                + string.Join(", ", byKind.Select(k => $"{k.Key} {k.Value:P1}")));
        return 0;
    }
}
