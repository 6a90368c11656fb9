using System.Diagnostics;
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

[Verb("demo", HelpText = "The whole R1-Zero story on the CPU: tiny model → brief SFT (a weak base) → eval → GRPO " +
    "with verifiable rewards → eval.")]
sealed class DemoOptions : CommonOptions, IRunOptions
{
    [Option("task", Default = "arithmetic", HelpText = "arithmetic | countdown | multisum.")]
    public string Task { get; set; } = "arithmetic";
    [Option("out", HelpText = "Checkpoints, metrics, curves and summary.json. Default: a new runs/demo, runs/demo-2, ...")]
    public string? Out { get; set; }
    [Option("overwrite", Default = false, HelpText = "Replace the run already in --out.")]
    public bool Overwrite { get; set; }
    [Option("sft-steps", Default = 600, HelpText = "At most this many SFT steps for the weak base.")]
    public int SftSteps { get; set; }
    [Option("base-target", Default = 0.3f,
        HelpText = "SFT stops once greedy pass@1 on 100 training problems reaches this (a weak base, whatever the " +
        "seed).")]
    public float BaseTarget { get; set; }
    [Option("grpo-steps", Default = 300, HelpText = "GRPO steps.")]
    public int GrpoSteps { get; set; }
    [Option("eval-n", Default = 200, HelpText = "Held-out problems per evaluation.")]
    public int EvalN { get; set; }
    [Option("grpo-lr", Default = 1e-4f, HelpText = "GRPO learning rate (after warm-up).")]
    public float GrpoLr { get; set; }
    [Option("grpo-warmup", Default = 10, HelpText = "GRPO warm-up steps (a fresh Adam's first steps are its largest).")]
    public int GrpoWarmup { get; set; }
    [Option("prompts", Default = 8, HelpText = "GRPO prompts per step (× 8 completions).")]
    public int Prompts { get; set; }
    [Option("temperature", Default = 1f, HelpText = "GRPO sampling temperature.")]
    public float Temperature { get; set; }
}

/// <summary>`engine demo`: each stage says what it does; the before/after table, curves and summary.json at the end.</summary>
static class DemoCommand
{
    const int Context = 64, MaxNew = 40, K = 4;

    public static int Run(DemoOptions o)
    {
        if (o.SftSteps < 1 || o.GrpoSteps < 1 || o.EvalN < 1)
            throw new ArgumentException("demo: --sft-steps, --grpo-steps and --eval-n must be >= 1");
        var clock = Stopwatch.StartNew();
        var task = ReasoningTasks.Create(o.Task);
        string outDir = RunDirs.For("demo", o).Claim();
        var (_, backend, _) = ModelSetup.Backend(o, false);
        var tokenizer = new CharTokenizer();
        var cfg = ModelConfig.Preset("tiny", tokenizer.VocabSize, Context);
        var model = new Transformer(cfg, backend, o.Seed);
        var train = task.Generate("train", 20000, o.Seed);
        var test = task.Generate("test", o.EvalN, o.Seed);
        Console.WriteLine($"demo: task {task.Name}, seed {o.Seed}; tiny GPT-2 " +
            $"({model.ParameterCount:N0} parameters), char tokenizer, on {backend.Name}");
        Console.WriteLine("demo: stages — 1 SFT a weak base on worked solutions, 2 evaluate, 3 GRPO with verifiable " +
            "rewards, 4 evaluate again (about 3–4 minutes on 2 cores; more with --device ilgpu-cpu)");

        // 1. SFT on worked solutions in chunks of 25 steps, stopping as soon as greedy pass@1 on
        //    training problems reaches the target: the base knows the format but not yet the skill.
        Console.WriteLine($"\n[1/4] SFT on worked solutions until greedy pass@1 on training problems reaches " +
            $"{o.BaseTarget:P0} (at most {o.SftSteps} steps)");
        var sftData = new SftData(train.Select(p => (p.Prompt, p.Completion ?? $"<answer>{p.Answer}</answer>")), tokenizer, Context);
        var sftOpt = AdamW.For(model, 0.1f);
        var sftRng = new Rng(o.Seed);
        var dev = train.Take(100).ToList();
        int sftSteps = 0;
        double devPass = 0;
        while (sftSteps < o.SftSteps)
        {
            int next = Math.Min(o.SftSteps, sftSteps + 25);
            var sftOptions = new LmTrainOptions
            {
                Steps = next, Batch = 16, Schedule = new LrSchedule(3e-3f, 20, o.SftSteps, MinRatio: 1f), EvalBatches = 2,
                LogEvery = 1000, Out = Path.Combine(outDir, "sft"), Seed = o.Seed, Kind = "sft",
            };
            LmTrainer.Train(model, tokenizer, sftOpt, sftData, sftRng, sftOptions, sftSteps);
            sftSteps = next;
            devPass = TaskEval.Evaluate(model, tokenizer, task, dev, 1, MaxNew, 1f, true, o.Seed).Pass1;
            Console.WriteLine($"sft: {sftSteps} steps, greedy pass@1 on training problems {devPass:P0}");
            if (devPass >= o.BaseTarget - 1e-6) break;
        }

        // 2. Evaluate the base.
        Console.WriteLine($"\n[2/4] evaluating the SFT base on {o.EvalN} held-out problems (greedy pass@1, pass@{K}, maj@{K})");
        var before = TaskEval.Evaluate(model, tokenizer, task, test, K, MaxNew, 1f, true, o.Seed);
        Console.WriteLine($"base: pass@1 {before.Pass1:P1}, pass@{K} {before.PassK:P1}, format {before.FormatRate:P1}");

        // 3. GRPO from the base with accuracy + format rewards.
        Console.WriteLine($"\n[3/4] GRPO for {o.GrpoSteps} steps ({o.Prompts} prompts × 8 completions, accuracy + 0.1·format rewards)");
        var grpoOut = Path.Combine(outDir, "grpo");
        var options = new GrpoOptions
        {
            Steps = o.GrpoSteps, Prompts = o.Prompts, GroupSize = 8, MaxNewTokens = MaxNew,
                Temperature = o.Temperature, Lr = o.GrpoLr, Warmup = o.GrpoWarmup,
            Seed = o.Seed, Out = grpoOut, LogEvery = 10, Aggregation = LossAggregation.TokenMean,
        };
        var rewards = RewardSet.Parse("accuracy:1,format:0.1", task, MaxNew);
        var trainer = new GrpoTrainer(model, null, tokenizer, task, train, rewards, AdamW.For(model, 0f),
            new Rng(o.Seed + 1), options);
        var rows = trainer.Train(0);
        Curves.Save(Path.Combine(grpoOut, "reward.png"), $"GRPO on {task.Name} (seed {o.Seed})", rows, ["reward/mean"]);
        Curves.Save(Path.Combine(grpoOut, "accuracy.png"), $"GRPO on {task.Name} (seed {o.Seed})", rows, ["accuracy", "format_rate"]);

        // 4. Evaluate again.
        Console.WriteLine($"\n[4/4] evaluating the GRPO policy on the same {o.EvalN} held-out problems");
        var after = TaskEval.Evaluate(model, tokenizer, task, test, K, MaxNew, 1f, true, o.Seed);
        double seconds = clock.Elapsed.TotalSeconds;

        var table = new Table().AddColumns("", "pass@1", $"pass@{K}", $"maj@{K}", "format", "mean length");
        table.AddRow("SFT base", $"{before.Pass1:P1}", $"{before.PassK:P1}", $"{before.MajK:P1}",
            $"{before.FormatRate:P1}", $"{before.MeanLength:F1}");
        table.AddRow("after GRPO", $"{after.Pass1:P1}", $"{after.PassK:P1}", $"{after.MajK:P1}",
            $"{after.FormatRate:P1}", $"{after.MeanLength:F1}");
        AnsiConsole.Write(table);
        RunFolder.WriteSummary(outDir, new Dictionary<string, object>
        {
            ["before"] = before, ["after"] = after, ["seconds"] = Math.Round(seconds, 1), ["warnings"] = trainer.Warnings,
        });
        Console.WriteLine($"demo: {seconds / 60:F1} minutes; curves in {grpoOut}/reward.png and accuracy.png, " +
            $"summary in {Path.Combine(outDir, "summary.json")}");
        return 0;
    }
}
