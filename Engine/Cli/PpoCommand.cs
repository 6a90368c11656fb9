using CommandLine;
using Engine.Checkpoints;
using Engine.Model;
using Engine.RL;
using Engine.Rewards;
using Engine.Tasks;
using Engine.Training;

namespace Engine.Cli;

[Verb("ppo", HelpText = "PPO with a critic, KL-in-reward to a frozen reference, and a reward model or verifiable rewards.")]
sealed class PpoCliOptions : ModelOptions, IRunOptions
{
    [Option("task", Default = "arithmetic", HelpText = "Prompts (and the accuracy metric) come from this task.")]
    public string Task { get; set; } = "arithmetic";
    [Option("reward-model", HelpText = "A reward-model checkpoint (engine rm); without it the verifiable --rewards are used.")]
    public string? RewardModel { get; set; }
    [Option("rewards", Default = "accuracy:1,format:0.1", HelpText = "Verifiable rewards when no --reward-model is given.")]
    public string Rewards { get; set; } = "accuracy:1,format:0.1";
    [Option("critic", HelpText = "Critic initialisation: a checkpoint (e.g. the reward model). Default: the policy " +
        "with a fresh value head.")]
    public string? Critic { get; set; }
    [Option("out", HelpText = "Run folder. Default: a new runs/ppo, runs/ppo-2, ... (with --resume: the checkpoint's run folder).")]
    public string? Out { get; set; }
    [Option("overwrite", Default = false, HelpText = "Replace the run already in --out.")]
    public bool Overwrite { get; set; }
    [Option("save-every", Default = 0,
        HelpText = "Checkpoint every N steps (OUT/checkpoint-N, the critic in its critic/); OUT/final at the end, and one on Ctrl-C.")]
    public int SaveEvery { get; set; }
    [Option("resume", HelpText = "Continue from OUT/checkpoint-N (policy, critic, both optimisers, step, RNG, adaptive β).")]
    public string? Resume { get; set; }
    [Option("steps", Default = 100, HelpText = "PPO steps.")]
    public int Steps { get; set; }
    [Option("prompts", Default = 32, HelpText = "Prompts (one completion each) per step.")]
    public int Prompts { get; set; }
    [Option("max-new-tokens", Default = 40, HelpText = "Completion budget.")]
    public int MaxNewTokens { get; set; }
    [Option("temperature", Default = 1f, HelpText = "Sampling temperature.")]
    public float Temperature { get; set; }
    [Option("lr", Default = 1e-4f, HelpText = "Policy learning rate.")]
    public float Lr { get; set; }
    [Option("critic-lr", Default = 3e-4f, HelpText = "Critic learning rate.")]
    public float CriticLr { get; set; }
    [Option("warmup", Default = 10, HelpText = "Warm-up steps.")]
    public int Warmup { get; set; }
    [Option("kl-coef", Default = 0.05f, HelpText = "β of the KL penalty in the reward.")]
    public float KlCoef { get; set; }
    [Option("kl-estimator", Default = "k1", HelpText = "k1 | k2 | k3 (docs/rl-math.md).")]
    public string KlEstimator { get; set; } = "k1";
    [Option("kl-target", Default = 0f, HelpText = "> 0: adapt β toward this per-sequence KL (Ziegler et al.).")]
    public float KlTarget { get; set; }
    [Option("gamma", Default = 1f, HelpText = "GAE γ.")]
    public float Gamma { get; set; }
    [Option("lambda", Default = 0.95f, HelpText = "GAE λ.")]
    public float Lambda { get; set; }
    [Option("ppo-epochs", Default = 2, HelpText = "Passes over each step's samples.")]
    public int PpoEpochs { get; set; }
    [Option("minibatches", Default = 2, HelpText = "Optimiser steps per pass.")]
    public int MiniBatches { get; set; }
    [Option("cliprange", Default = 0.2f, HelpText = "ε of the clipped policy loss.")]
    public float ClipRange { get; set; }
    [Option("cliprange-value", Default = 0.2f, HelpText = "Clip of the value loss around the old values.")]
    public float ClipRangeValue { get; set; }
    [Option("vf-coef", Default = 0.5f, HelpText = "Value-loss coefficient.")]
    public float VfCoef { get; set; }
    [Option("entropy-coef", Default = 0f, HelpText = "Entropy bonus.")]
    public float EntropyCoef { get; set; }
    [Option("missing-eos-penalty", Default = 0f, HelpText = "Added to the score of a completion that ran out of budget (e.g. -1).")]
    public float MissingEosPenalty { get; set; }
    [Option("log-every", Default = 10, HelpText = "Without a terminal: a line every N steps.")]
    public int LogEvery { get; set; }
}

static class PpoCommand
{
    public static int Run(PpoCliOptions o)
    {
        if (o.Steps < 1 || o.Prompts < 2 || o.PpoEpochs < 1 || o.MiniBatches < 1 || o.MaxNewTokens < 1 || o.LogEvery < 1)
            throw new ArgumentException("ppo: --steps, --ppo-epochs, --minibatches, --max-new-tokens, --log-every " +
                "must be >= 1 and --prompts >= 2");
        var kl = o.KlEstimator switch
        {
            "k1" => RL.KlEstimator.K1, "k2" => RL.KlEstimator.K2, "k3" => RL.KlEstimator.K3,
            _ => throw new ArgumentException($"--kl-estimator {o.KlEstimator}: expected k1, k2 or k3"),
        };
        Check.PositiveFinite(o.Lr, "--lr");
        Check.PositiveFinite(o.CriticLr, "--critic-lr");
        Check.PositiveFinite(o.Temperature, "--temperature");
        Check.NonNegativeFinite(o.KlCoef, "--kl-coef");
        Check.NonNegativeFinite(o.KlTarget, "--kl-target");
        Check.PositiveFinite(o.ClipRange, "--cliprange");
        Check.PositiveFinite(o.ClipRangeValue, "--cliprange-value");
        if (o.Warmup < 0 || o.SaveEvery < 0) throw new ArgumentException("ppo: --warmup and --save-every must be >= 0");
        var task = ReasoningTasks.Create(o.Task);
        var runDir = RunDirs.For("ppo", o, o.Resume, o.Steps);
        var (_, backend, _) = ModelSetup.Backend(o, false);
        var (policy, tokenizer) = ModelSetup.Create(o, backend, o.Resume ?? o.Checkpoint, o.Resume is null ? "--checkpoint" : "--resume");
        // The reference and the critic start from the policy's weights; initial/ keeps them for a resumed run.
        string? resumedRun = o.Resume is null ? null : RunDirs.Of(o.Resume);
        var reference = resumedRun is null ? policy.Clone()
            : Checkpoint.LoadModel(Path.Combine(resumedRun, "initial"), backend, flag: "--resume");
        var critic = o.Resume is not null ? Checkpoint.LoadModel(Path.Combine(o.Resume, "critic"), backend, flag: "--resume")
            : o.Critic is not null ? Checkpoint.LoadModel(o.Critic, backend, withValueHead: true, seed: o.Seed, flag: "--critic")
            : policy.Clone(withValueHead: true, seed: o.Seed);
        IRewardScorer? rm = o.RewardModel is null ? null : RL.RewardModel.Load(o.RewardModel, backend);
        var train = task.Generate("train", 5000, o.Seed);
        RlCommands.CheckPrompts("ppo", train, tokenizer, policy.Config.MaxPositions, "generated problems");
        var rewards = rm is null ? RewardSet.Parse(o.Rewards, task, o.MaxNewTokens) : null;
        string outDir = runDir.Claim();
        if (o.Resume is null) Checkpoint.Save(Path.Combine(outDir, "initial"), policy, tokenizer);
        var options = new PpoOptions
        {
            Steps = o.Steps, Prompts = o.Prompts, MaxNewTokens = o.MaxNewTokens, Temperature = o.Temperature, Lr = o.Lr,
            CriticLr = o.CriticLr, Warmup = o.Warmup, ClipRange = o.ClipRange, ClipRangeValue = o.ClipRangeValue,
            VfCoef = o.VfCoef, KlCoef = o.KlCoef, KlEstimator = kl, KlTarget = o.KlTarget, Gamma = o.Gamma, Lambda = o.Lambda,
            PpoEpochs = o.PpoEpochs, MiniBatches = o.MiniBatches, EntropyCoef = o.EntropyCoef,
            MissingEosPenalty = o.MissingEosPenalty, LogEvery = o.LogEvery, SaveEvery = o.SaveEvery, Seed = o.Seed, Out = outDir,
        };
        var policyOptimizer = AdamW.For(policy, 0f);
        var criticOptimizer = AdamW.For(critic, 0f);
        var rng = new Rng(o.Seed);
        var trainer = new PpoTrainer(policy, reference, critic, tokenizer, task, train, rewards, rm,
            policyOptimizer, criticOptimizer, rng, options);
        int startStep = 0;
        if (o.Resume is not null)
        {
            startStep = Checkpoint.Resume(o.Resume, policyOptimizer, rng, "ppo");
            trainer.Restore(o.Resume, Checkpoint.ResumeState(o.Resume, "ppo"));
        }
        IReadOnlyList<Dictionary<string, object>> rows;
        using (Interrupt.Defer()) rows = trainer.Train(startStep);
        Curves.Save(Path.Combine(outDir, "reward.png"), $"PPO on {task.Name}", rows, ["reward/mean", "accuracy"]);
        RunFolder.WriteSummary(outDir, new Dictionary<string, object>
        {
            ["task"] = task.Name, ["steps"] = o.Steps, ["reward_model"] = o.RewardModel ?? "", ["first"] = rows[0],
            ["final"] = rows[^1], ["checkpoint"] = Path.Combine(outDir, "final"), ["warnings"] = trainer.Warnings,
        });
        Console.WriteLine($"ppo: wrote {Path.Combine(outDir, "final")} (the critic in final/critic), metrics.jsonl, " +
            "reward.png and summary.json");
        return 0;
    }
}
