using System.Diagnostics;
using System.Text.Json;
using CommandLine;
using Engine.Checkpoints;
using Engine.Data;
using Engine.Model;
using Engine.RL;
using Engine.Rewards;
using Engine.Tasks;
using Engine.Tokenizers;
using Engine.Training;
using Spectre.Console;

namespace Engine.Cli;

[Verb("demo", HelpText = "The whole R1-Zero story on the CPU: tiny model → brief SFT (a weak base) → eval → GRPO with verifiable rewards → eval.")]
sealed class DemoOptions : CommonOptions
{
    [Option("task", Default = "arithmetic", HelpText = "arithmetic | countdown.")]
    public string Task { get; set; } = "arithmetic";
    [Option("out", Default = "runs/demo", HelpText = "Checkpoints, metrics, curves and summary.json.")]
    public string Out { get; set; } = "runs/demo";
    [Option("sft-steps", Default = 150, HelpText = "SFT steps for the weak base.")]
    public int SftSteps { get; set; }
    [Option("grpo-steps", Default = 150, HelpText = "GRPO steps.")]
    public int GrpoSteps { get; set; }
    [Option("eval-n", Default = 200, HelpText = "Held-out problems per evaluation.")]
    public int EvalN { get; set; }
}

/// <summary>`engine demo`: each stage says what it does; the before/after table, curves and summary.json at the end.</summary>
static class DemoCommand
{
    const int Context = 64, MaxNew = 40, K = 4;

    public static int Run(DemoOptions o)
    {
        if (o.SftSteps < 1 || o.GrpoSteps < 1 || o.EvalN < 1) throw new ArgumentException("demo: --sft-steps, --grpo-steps and --eval-n must be >= 1");
        var clock = Stopwatch.StartNew();
        var task = ReasoningTasks.Create(o.Task);
        var (_, backend, _) = ModelSetup.Backend(o.Device, false);
        var tokenizer = new CharTokenizer();
        var cfg = ModelConfig.Preset("tiny", tokenizer.VocabSize, Context);
        var model = new Transformer(cfg, backend, o.Seed);
        var train = task.Generate("train", 20000, o.Seed);
        var test = task.Generate("test", o.EvalN, o.Seed);
        Console.WriteLine($"demo: task {task.Name}, seed {o.Seed}; tiny GPT-2 ({model.ParameterCount:N0} parameters), char tokenizer, on {backend.Name}");
        Console.WriteLine("demo: stages — 1 SFT a weak base on worked solutions, 2 evaluate, 3 GRPO with verifiable rewards, 4 evaluate again (about 10 minutes on 2 cores)");

        // 1. SFT: a short run on worked solutions, so the base knows the format but not yet the skill.
        Console.WriteLine($"\n[1/4] SFT for {o.SftSteps} steps on worked solutions");
        var sftData = new SftData(train.Select(p => (p.Prompt, p.Completion ?? $"<answer>{p.Answer}</answer>")), tokenizer, Context);
        var sftOpt = RlCommands.NewOptimizer(model, 0.1f);
        LmTrainer.Train(model, tokenizer, sftOpt, sftData, new Rng(o.Seed), new LmTrainOptions(o.SftSteps, 16, 1, 1f,
            new LrSchedule(3e-3f, 20, o.SftSteps), 0, 4, 0, 25, Path.Combine(o.Out, "sft"), o.Seed, "sft"));

        // 2. Evaluate the base.
        Console.WriteLine($"\n[2/4] evaluating the SFT base on {o.EvalN} held-out problems (greedy pass@1, pass@{K}, maj@{K})");
        var before = TaskEval.Evaluate(model, tokenizer, task, test, K, MaxNew, 1f, true, o.Seed);
        Console.WriteLine($"base: pass@1 {before.Pass1:P1}, pass@{K} {before.PassK:P1}, format {before.FormatRate:P1}");

        // 3. GRPO from the base with accuracy + format rewards.
        Console.WriteLine($"\n[3/4] GRPO for {o.GrpoSteps} steps (8 prompts × 8 completions, accuracy + 0.1·format rewards)");
        var grpoOut = Path.Combine(o.Out, "grpo");
        var options = new GrpoOptions
        {
            Steps = o.GrpoSteps, Prompts = 8, GroupSize = 8, MaxNewTokens = MaxNew, Temperature = 1f, Lr = 1e-4f,
            Seed = o.Seed, Out = grpoOut, LogEvery = 10, Aggregation = LossAggregation.TokenMean,
        };
        var rewards = RewardSet.Parse("accuracy:1,format:0.1", task, MaxNew);
        var trainer = new GrpoTrainer(model, null, tokenizer, task, train, rewards, RlCommands.NewOptimizer(model, 0f), new Rng(o.Seed + 1), options);
        var rows = trainer.Train(0);
        Curves.Save(Path.Combine(grpoOut, "reward.png"), $"GRPO on {task.Name} (seed {o.Seed})", rows, ["reward/mean"]);
        Curves.Save(Path.Combine(grpoOut, "accuracy.png"), $"GRPO on {task.Name} (seed {o.Seed})", rows, ["accuracy", "format_rate"]);

        // 4. Evaluate again.
        Console.WriteLine($"\n[4/4] evaluating the GRPO policy on the same {o.EvalN} held-out problems");
        var after = TaskEval.Evaluate(model, tokenizer, task, test, K, MaxNew, 1f, true, o.Seed);
        double seconds = clock.Elapsed.TotalSeconds;

        var table = new Table().AddColumns("", "pass@1", $"pass@{K}", $"maj@{K}", "format", "mean length");
        table.AddRow("SFT base", $"{before.Pass1:P1}", $"{before.PassK:P1}", $"{before.MajK:P1}", $"{before.FormatRate:P1}", $"{before.MeanLength:F1}");
        table.AddRow("after GRPO", $"{after.Pass1:P1}", $"{after.PassK:P1}", $"{after.MajK:P1}", $"{after.FormatRate:P1}", $"{after.MeanLength:F1}");
        AnsiConsole.Write(table);
        File.WriteAllText(Path.Combine(o.Out, "summary.json"), JsonSerializer.Serialize(
            new Dictionary<string, object> { ["before"] = before, ["after"] = after, ["seconds"] = Math.Round(seconds, 1) }, new JsonSerializerOptions { WriteIndented = true }));
        Console.WriteLine($"demo: {seconds / 60:F1} minutes; curves in {grpoOut}/reward.png and accuracy.png, summary in {Path.Combine(o.Out, "summary.json")}");
        return 0;
    }
}
